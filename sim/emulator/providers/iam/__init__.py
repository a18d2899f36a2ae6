"""IAM: moto's backend, plus what bdlab evaluates itself (SimulatePrincipalPolicy)."""
