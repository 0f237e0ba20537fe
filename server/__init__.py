"""What runs a taskhub process: the data directory and cookie secret, the embedded
database's supervisor, the body limit, the access log and the graceful drain."""
