import sys

from spagan.cli import main

sys.exit(main())
