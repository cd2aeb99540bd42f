import sys

from installer.tool.cli import main

sys.exit(main())
