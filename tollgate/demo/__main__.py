"""`python -m tollgate.demo`: see `tollgate.demo.run`."""

import sys

from tollgate.demo.run import main

sys.exit(main())
