"""Lab 1.3.5: EMR cluster creation and a Spark job submitted through the EMR API."""
