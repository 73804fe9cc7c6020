"""The self-contained HTML report for retention teams and the outcomes page, with their charts."""
