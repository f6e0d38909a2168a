"""Scale-out: `sweep` (a vmap in bounded chunks, the batch sharded over a device mesh, across
processes after `jax.distributed.initialize`)."""

from ._sweep import sweep as sweep
