import sys

from advrec.cli.main import main

sys.exit(main())
