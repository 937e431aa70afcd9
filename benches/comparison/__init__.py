"""The side-by-side comparison run by benches/compare.py: the tokenizers (peers.py), the timed
workloads (workloads.py), the tables and targets (report.py) and the chart (chart.py)."""
