import sys

from gdd.cli import main

sys.exit(main())
