"""The course labs: one package per lab, run and checked by labs.harness."""
