"""The one test harness: settings, the database, in-process apps, taskhub processes,
users, live clients, the local stack and hosts of their own (network namespaces).
Tests build nothing of their own."""
