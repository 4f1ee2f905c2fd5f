"""Continuity plan and its test drills: the plan as data, a safe runner, a hash-chained journal."""
