"""Lab 2.3.5: streaming data-quality monitoring: rules, quarantine, a pass rate that drops."""
