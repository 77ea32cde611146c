"""Small shared helpers: seed streams, atomic files, progress bars."""
