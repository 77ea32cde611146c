import sys

from advrec.cli import main

sys.exit(main())
