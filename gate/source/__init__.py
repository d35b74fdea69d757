"""Where the ranking comes from: saved snapshots, the live API, and normalisation into images."""
