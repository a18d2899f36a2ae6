"""IAM authorization: the action table from the SAR, policy evaluation, the enforcer."""
