"""Reports over run folders: collect runs, tables (leaderboard, significance, robustness, poisoning,
detection), plots, and one self-contained HTML file plus Markdown and CSV tables.

Entry point: :func:`advrec.report.build.build_report`.
"""
