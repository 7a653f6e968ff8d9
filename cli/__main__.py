from cli import main

if __name__ == "__main__":  # not on import: a spawned worker process re-imports the main module
    main()
