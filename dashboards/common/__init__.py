"""What the dashboards share: the launch arguments (profile and bucket handed down from the
CLI), the clock they schedule on, and one-line messages for failures."""
