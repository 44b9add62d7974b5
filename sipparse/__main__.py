"""``python -m sipparse`` runs the command-line interface."""

from sipparse.cli import main

if __name__ == "__main__":
    main()
