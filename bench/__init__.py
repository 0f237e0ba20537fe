"""taskhub's benchmarks, each side by side with its baseline: ``python -m bench`` runs
them all (bench/__main__.py); bench/live.py, bench/shared_list.py and bench/crowded.py
also run on their own."""
