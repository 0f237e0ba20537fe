"""Clients of services on the internet that taskhub calls: code2Session."""
