"""The ``b2bscore`` command as a file ``spark-submit`` can run (it runs Python applications given as ``.py`` files):
``spark-submit [options] scripts/spark_b2bscore.py features PARTITION --engine spark ...`` (see README, Scaling out)."""

from b2bscore.cli import main

if __name__ == "__main__":
    main()
