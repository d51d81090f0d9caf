"""Everything about one target runtime in one folder: running its files as a `Model`, and its taps. The folders
do not import each other or the frameworks."""
