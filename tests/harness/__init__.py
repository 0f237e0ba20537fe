"""The one test harness: settings, the database, in-process apps, taskhub processes,
users, live clients and the local stack. Tests build nothing of their own."""
