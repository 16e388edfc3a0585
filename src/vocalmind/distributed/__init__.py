"""Scale-out: the executor protocol on Ray, sharded resumable extraction, distributed search.

Ray is optional: it is imported only when a Ray executor is built or a search runs on it.
"""

from vocalmind.distributed.sharded import assess_sharded, extract_sharded, plan_shards

__all__ = ["assess_sharded", "extract_sharded", "plan_shards"]
