"""The archive's files: paths and names, rendering (front matter), writing, revisions.

    entries      where an entry lives, what its file says, and writing it whole or not at all
    frontmatter  YAML front matter that every YAML parser reads back the same
    revisions    whether a known entry changed, and keeping the previous file
    storage      atomic writes and sweeping stale temporary files
"""
