"""``python -m converter``: the conversion worker."""

from converter.worker import main

if __name__ == "__main__":
    main()
