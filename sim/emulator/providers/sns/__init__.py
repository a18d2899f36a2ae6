"""SNS: moto keeps topics and subscriptions; bdlab delivers to HTTP/S and email."""
