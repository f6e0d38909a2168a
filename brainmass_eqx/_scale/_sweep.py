r"""`sweep`: map a function over the leading axis of its arguments, in vmapped chunks
(`lax.map` over chunks, so memory stays bounded), with the batch axis sharded across devices
(`jax.shard_map` over a one-axis mesh); uneven batches are padded and trimmed."""

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec


AXIS = "batch"


def _devices(devices: Any) -> tuple:
    if devices is None:
        return tuple(jax.local_devices())
    if isinstance(devices, Mesh):
        return tuple(devices.devices.ravel())
    try:
        out = tuple(devices)
    except TypeError:
        raise TypeError(f"`devices` must be a sequence of jax devices (e.g. "
                        f"jax.local_devices()) or a Mesh, got {devices!r}.") from None
    if not out or not all(isinstance(d, jax.Device) for d in out):
        raise TypeError(f"`devices` must be a non-empty sequence of jax devices, got "
                        f"{devices!r}.")
    return out


def batch_size(args: Any) -> int:
    """The common leading size of every array leaf of `args` (`ValueError` otherwise)."""
    sizes = {jnp.shape(a)[0] if jnp.ndim(a) else None
             for a in jax.tree.leaves(eqx.filter(args, eqx.is_array))}
    if not sizes:
        raise ValueError("`sweep` found no arrays to map over in its arguments.")
    if None in sizes or len(sizes) != 1:
        raise ValueError(f"every array in the swept arguments needs the same leading (batch) "
                         f"axis, got leading sizes {sorted(s for s in sizes if s is not None)}"
                         f"{' and scalars' if None in sizes else ''}; broadcast or close over "
                         "the arrays that are not swept.")
    return int(sizes.pop())


@eqx.filter_jit
def _sharded(fn, dynamic, static, mesh, n_chunks, chunk):
    # `fn`'s own arrays (a module's parameters) enter the shard_map as replicated inputs,
    # the swept arrays split along the batch axis
    fn_dyn, fn_static = eqx.partition(fn, eqx.is_array)

    def local(f_dyn, dyn):  # on one device: its share -> lax.map over chunks of a vmap
        f = eqx.combine(f_dyn, fn_static)

        def one_chunk(c):
            return jax.vmap(lambda a: f(*eqx.combine(a, static)))(c)

        if n_chunks == 1:
            return one_chunk(dyn)
        blocks = jax.tree.map(lambda a: a.reshape(n_chunks, chunk, *a.shape[1:]), dyn)
        out = jax.lax.map(one_chunk, blocks)
        return jax.tree.map(lambda a: a.reshape(n_chunks * chunk, *a.shape[2:]), out)

    spec = PartitionSpec(AXIS)
    return jax.shard_map(local, mesh=mesh, in_specs=(PartitionSpec(), spec), out_specs=spec,
                         check_vma=False)(fn_dyn, dynamic)


def sweep(fn: Callable, *args: Any, devices: Any = None, chunk_size: int | None = None,
          progress: bool = False) -> Any:
    r"""`fn` mapped over the leading axis of every array leaf of `args`, as `jax.vmap(fn)(*args)`
    would, on several devices and in bounded memory.

    **Arguments:**

    - `fn`: `fn(*members) -> pytree of arrays`; each member is `args` with the batch axis
      removed (a batch of models built with `eqx.filter_vmap`, stacked parameters, keys).
    - `devices`: the devices to shard the batch over (default: `jax.local_devices()`), or a
      one-axis `jax.sharding.Mesh`. After `jax.distributed.initialize`, `jax.devices()`
      spans every process: each process passes the same arguments, computes its devices'
      share, and receives the whole result.
    - `chunk_size`: members vmapped at once on each device; the chunks run one after another
      (`lax.map`), so memory is `chunk_size` members per device whatever the batch. Default:
      the whole share of each device in one chunk.
    - `progress`: run the chunks from Python, one compiled call per round of
      `len(devices) * chunk_size` members, with a tqdm bar.

    The batch is padded (repeating its last member) to a multiple of
    `len(devices) * chunk_size` and the padding trimmed from the result. Member $i$ is computed
    as in `jax.vmap(fn)(*args)`: bitwise where `fn`'s arithmetic does not depend on the batch
    width, otherwise to rounding (XLA's CPU backend may vectorise a reduction differently for
    a chunk of another width; one device and no `chunk_size` is the compiled vmap itself).
    """
    devs = _devices(devices)
    n = batch_size(args)
    n_dev = len(devs)
    per_device = math.ceil(n / n_dev)
    chunk = per_device if chunk_size is None else int(chunk_size)
    if chunk < 1:
        raise ValueError(f"`chunk_size` must be a positive integer, got {chunk_size!r}.")
    mesh = devices if isinstance(devices, Mesh) else Mesh(np.asarray(devs), (AXIS,))
    if mesh.axis_names != (AXIS,):
        mesh = Mesh(mesh.devices.ravel(), (AXIS,))
    dynamic, static = eqx.partition(args, eqx.is_array)
    if progress:
        from tqdm.auto import tqdm

        step = n_dev * chunk
        total = math.ceil(n / step) * step
        padded = _pad(dynamic, total)
        outs = []
        for start in tqdm(range(0, total, step), desc="sweep", leave=False):
            block = jax.tree.map(lambda a: a[start:start + step], padded)
            outs.append(_run(fn, block, static, mesh, 1, chunk))
        out = jax.tree.map(lambda *a: jnp.concatenate(a), *outs)
    else:
        n_chunks = math.ceil(per_device / chunk)
        total = n_dev * n_chunks * chunk
        out = _run(fn, _pad(dynamic, total), static, mesh, n_chunks, chunk)
    return jax.tree.map(lambda a: a[:n], out)


def _run(fn, dynamic, static, mesh, n_chunks, chunk):
    """One sharded call; over several processes the (identical, host-side) inputs become
    global arrays and every process gets the whole result back."""
    if not _multiprocess(mesh):
        return _sharded(fn, dynamic, static, mesh, n_chunks, chunk)
    from jax.experimental import multihost_utils

    sharding = jax.sharding.NamedSharding(mesh, PartitionSpec(AXIS))

    def to_global(a):
        if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            data = np.asarray(jax.random.key_data(a))
            glob = jax.make_array_from_callback(data.shape, sharding, lambda i: data[i])
            return jax.random.wrap_key_data(glob, impl=jax.random.key_impl(a))
        host = np.asarray(a)
        return jax.make_array_from_callback(host.shape, sharding, lambda i: host[i])

    out = _sharded(fn, jax.tree.map(to_global, dynamic), static, mesh, n_chunks, chunk)
    return multihost_utils.process_allgather(out, tiled=True)


def _multiprocess(mesh: Mesh) -> bool:
    return any(d.process_index != jax.process_index() for d in mesh.devices.ravel())


def _pad(dynamic: Any, total: int) -> Any:
    def pad(a):
        extra = total - a.shape[0]
        if extra == 0:
            return a
        return jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)])

    return jax.tree.map(pad, dynamic)
