"""`python -m gate`: the same entry point as the `gate` console script."""

from gate.signals import main

if __name__ == "__main__":
    main()
