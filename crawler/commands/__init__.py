"""Commands that change or show the config rather than crawl: `import`, `export`, `add`.

Each module is imported by `cli` only when its command runs, so ruamel.yaml and
defusedxml cost nothing to `crawl` and `run`.
"""
