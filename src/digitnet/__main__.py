import sys

from digitnet.apps.cli import main

sys.exit(main())
