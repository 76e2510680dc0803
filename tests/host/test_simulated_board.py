"""The board driver (host/backends.py: PynqBackend) run through the real pynq 4.0.0 package —
Overlay with its .hwh parser and driver binding, pynq.allocate, MMIO, pynq.lib.dma.DMA, the PL
clock code — against the simulated Zynq UltraScale+ of host/simulated_board.py."""

import json
import shutil

import numpy as np
import pytest

pynq = pytest.importorskip("pynq")

from hls import blockdesign as bd  # noqa: E402
from flow.artifacts import write_design  # noqa: E402
from hls.design_files import write_manifest  # noqa: E402
from flow.lowering import lower  # noqa: E402
from host import Accelerator  # noqa: E402
from host.backends import BackendError  # noqa: E402
from host.compare import compare  # noqa: E402
from host.hwh import pl_clock_divisors  # noqa: E402
from host.simulated_board import SimulatedBoardError, SimulatedZynqMP, write_simulated_overlay  # noqa: E402
from model.arch import vargfacenet  # noqa: E402
from model.orl import HELDOUT_IDS, load_orl  # noqa: E402
from model.quant import QuantConfig  # noqa: E402
from sim.golden import random_params  # noqa: E402


def _design(out, emb=32, seed=5):
    arch = vargfacenet(0.25, 32, last_channels=64, emb_size=emb, units=(2, 2, 2))
    acc = lower(arch, QuantConfig(4, 4), {})
    x, _ = load_orl((1, 2, 3), 32, per_id=2)
    write_design(acc, random_params(acc, x, seed=seed), np.full(emb, 1e-3), {"l2norm": True}, out)
    return out


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    return _design(tmp_path_factory.mktemp("design"))


@pytest.fixture(scope="module")
def overlay(design, tmp_path_factory):
    return write_simulated_overlay(design, tmp_path_factory.mktemp("overlay"))


@pytest.fixture(scope="module")
def board(design, overlay):
    dev = SimulatedZynqMP("zcu104", fabric="csim")
    return dev, Accelerator(design, backend="board", bitstream_dir=overlay, device=dev)


def faces(n=6):
    x, _ = load_orl(HELDOUT_IDS, 32, per_id=1)
    return x[:n]


def test_handoff_parses_with_pynq_to_the_flow_address_map(board):
    _, acc = board
    ov = acc.backend.overlay
    assert ov.ip_dict[bd.DMA]["phys_addr"] == bd.DMA_BASE
    assert ov.ip_dict[bd.ACCEL]["phys_addr"] == bd.ACCEL_BASE
    assert ov.ip_dict[bd.DMA]["parameters"]["c_include_sg"] == "0"
    assert "CTRL" in ov.ip_dict[bd.ACCEL]["registers"]
    assert type(acc.backend.dma) is pynq.lib.dma.DMA  # pynq bound its own AXI DMA driver


def test_overlay_download_programs_the_pl_clock_through_pynq(board):
    dev, acc = board
    want = pl_clock_divisors(acc.desc.clock_mhz)[2]
    assert acc.backend.overlay.clock_dict[0]["frequency"] == pytest.approx(want, abs=1e-5)
    assert dev.pl_clock_mhz == pytest.approx(want) and want <= acc.desc.clock_mhz


def test_board_driver_is_bit_exact_with_the_golden_model_on_faces_and_noise(board):
    dev, acc = board
    before = dev.fabric.frames
    r = compare(acc, faces())
    assert r["bit_exact"] and r["integers"] == 6 * 32 and r["backend"] == "simulated-board"
    noise = np.random.default_rng(3).integers(0, 256, (4, 32, 32, 3)).astype(np.uint8)
    assert compare(acc, noise)["bit_exact"]
    assert dev.fabric.frames - before == 6 + 4  # one frame per image through the fabric


def test_dma_buffers_are_not_coherent_until_flushed(board):
    dev, _ = board
    buf = pynq.allocate(shape=(4,), dtype=np.uint32, target=dev)
    buf[:] = [1, 2, 3, 4]
    assert dev.ddr(buf.physical_address, 16) == bytes(16)  # still in the CPU's cache
    buf.flush()
    assert np.frombuffer(dev.ddr(buf.physical_address, 16), np.uint32).tolist() == [1, 2, 3, 4]


def test_an_accelerator_that_is_not_started_times_out_with_a_clear_error(design, overlay):
    dev = SimulatedZynqMP("zcu104", fabric="golden")
    acc = Accelerator(design, backend="board", bitstream_dir=overlay, device=dev, timeout_s=0.2)
    acc.backend.ip.write(bd.AP_CTRL, 0)  # clear ap_start and auto-restart
    with pytest.raises(BackendError, match="did not complete the input DMA transfer within 0.2 s"):
        acc.infer(faces(1))


def test_a_bitstream_for_another_part_is_refused(design, overlay):
    with pytest.raises(SimulatedBoardError, match="built for part xczu7ev"):
        Accelerator(design, backend="board", bitstream_dir=overlay, device=SimulatedZynqMP("kv260"))


def test_a_design_changed_after_its_bitstream_was_written_is_refused(design, tmp_path):
    d = tmp_path / "d"
    shutil.copytree(design, d)
    ov = write_simulated_overlay(d, tmp_path / "ov")
    scale = d / "output_scale.npy"
    np.save(scale, np.load(scale) * 2)
    write_manifest(d)  # the design rebuilt (its own manifest agrees), the bitstream not
    with pytest.raises(SimulatedBoardError, match="changed after this bitstream was written"):
        Accelerator(d, backend="board", bitstream_dir=ov, device=SimulatedZynqMP(fabric="golden"))


def test_a_bitstream_with_more_outputs_than_the_description_is_an_error_not_output(design, tmp_path):
    """A bitstream whose accelerator.json was swapped for another design's passes the file
    checks; the DMA then sees a packet longer than the receive buffer."""
    small = _design(tmp_path / "small", emb=16, seed=6)
    ov = write_simulated_overlay(design, tmp_path / "ov")
    shutil.copyfile(small / "accelerator.json", ov / "accelerator.json")
    acc = Accelerator(small, backend="board", bitstream_dir=ov, device=SimulatedZynqMP(fabric="golden"))
    with pytest.raises(BackendError, match="output DMA channel stopped with an error: internal"):
        acc.infer(faces(1))


def test_a_real_looking_description_mismatch_is_refused_before_loading(design, overlay, tmp_path):
    ov = tmp_path / "ov"
    shutil.copytree(overlay, ov)
    d = json.loads((ov / "accelerator.json").read_text())
    d["output"]["channels"] = 7
    (ov / "accelerator.json").write_text(json.dumps(d))
    with pytest.raises(BackendError, match="output channels is 7"):
        Accelerator(design, backend="board", bitstream_dir=ov, device=SimulatedZynqMP(fabric="golden"))


# ---- a design whose last layers read their weights from DDR (memory "ddr") --------------------
def _small_design(out, folding: dict):
    """A small VarGFaceNet's design files with the memories `folding` names."""
    arch = vargfacenet(0.25, 32, last_channels=64, emb_size=32, units=(2, 2, 2))
    acc = lower(arch, QuantConfig(4, 4), folding)
    x, _ = load_orl((1, 2, 3), 32, per_id=2)
    write_design(acc, random_params(acc, x, seed=7), np.full(32, 1e-3), {"l2norm": True}, out)
    return out


@pytest.fixture(scope="module")
def ddr_design(tmp_path_factory):
    return _small_design(tmp_path_factory.mktemp("ddr"),
                         {"emb.pw": {"ram_style": "ddr"}, "fc": {"ram_style": "ddr"}})


def test_ddr_weights_come_from_a_host_buffer_the_masters_read_bit_exactly(ddr_design, tmp_path):
    """The driver allocates the parameter buffer with pynq.allocate, fills and flushes it and
    aims each master's pointer register at its region; the simulated masters read DDR."""
    from hls.params_buffer import masters, regions

    dev = SimulatedZynqMP("zcu104", fabric="csim")
    acc = Accelerator(ddr_design, backend="board", bitstream_dir=write_simulated_overlay(ddr_design, tmp_path / "ov"),
                      device=dev)
    buf = acc.backend.params_buf
    assert buf is not None and len(masters(acc.desc)) == 2
    for i, m in enumerate(masters(acc.desc)):
        lo = acc.backend.ip.read(bd.ddr_pointer_offset(i))
        assert lo == (buf.physical_address + m.offset) & 0xFFFFFFFF
    assert compare(acc, faces(3))["bit_exact"]
    # weights corrupted in DDR reach the result: the masters read the buffer, not the build
    ddr = dev._memory.locate(buf.physical_address, buf.nbytes)[1]
    r0 = regions(acc.desc)[-1]
    ddr[r0.offset:r0.offset + r0.nbytes] ^= 0x11
    assert not compare(acc, faces(1))["bit_exact"]


def test_a_master_aimed_outside_allocated_ddr_is_a_decode_error(ddr_design, tmp_path):
    dev = SimulatedZynqMP("zcu104", fabric="csim")
    acc = Accelerator(ddr_design, backend="board", bitstream_dir=write_simulated_overlay(ddr_design, tmp_path / "ov"),
                      device=dev, timeout_s=0.2)
    acc.backend.ip.write(bd.ddr_pointer_offset(0), 0x4)
    with pytest.raises(SimulatedBoardError, match="outside allocated DDR: the interconnect answers DECERR"):
        acc.infer(faces(1))


def test_a_parameter_buffer_that_does_not_match_its_description_is_refused(ddr_design, tmp_path):
    from hls.params_buffer import FILE

    d = tmp_path / "d"
    shutil.copytree(ddr_design, d)
    data = bytearray((d / FILE).read_bytes())
    data[5] ^= 0xFF
    (d / FILE).write_bytes(bytes(data))
    write_manifest(d)  # even with the manifest and the bitstream made after the change,
    ov = write_simulated_overlay(d, tmp_path / "ov")  # the description's checksum differs
    with pytest.raises(BackendError, match="parameter buffer refused: .*checksum differs"):
        Accelerator(d, backend="board", bitstream_dir=ov, device=SimulatedZynqMP(fabric="golden"))
    (d / FILE).write_bytes(bytes(data[:-4]))
    write_manifest(d)
    ov = write_simulated_overlay(d, tmp_path / "ov2")
    with pytest.raises(BackendError, match="parameter buffer refused: .*bytes"):
        Accelerator(d, backend="board", bitstream_dir=ov, device=SimulatedZynqMP(fabric="golden"))


# ---- a design whose fc weights are a URAM cache the first frame loads (memory "uram") -----------
@pytest.fixture(scope="module")
def cached_design(tmp_path_factory):
    return _small_design(tmp_path_factory.mktemp("cached"),
                         {"emb.pw": {"ram_style": "ddr"}, "fc": {"ram_style": "ultra"}})


def test_a_uram_cache_is_filled_by_the_first_frame_and_then_kept(cached_design, tmp_path):
    """The driver sets the load flag register for the first frame and clears it after: the
    first frame's cache loader fills fc's URAM cache from DDR, later frames compute from the
    cache (fc's region corrupted in DDR no longer matters), while emb.pw still reads DDR each
    frame through its own master."""
    from hls.params_buffer import masters, regions

    dev = SimulatedZynqMP("zcu104", fabric="csim")
    acc = Accelerator(cached_design, backend="board",
                      bitstream_dir=write_simulated_overlay(cached_design, tmp_path / "ov"), device=dev)
    rs, ms = regions(acc.desc), masters(acc.desc)
    flag = bd.load_flag_offset(len(ms))
    assert [r.node for r in rs] == ["emb.pw", "fc"] and acc.backend.ip.read(flag) == 1
    assert [m.node for m in ms] == ["emb.pw", None]  # emb.pw's master, then the loader aimed at fc's region
    buf = acc.backend.params_buf
    assert acc.backend.ip.read(bd.ddr_pointer_offset(1)) == (buf.physical_address + rs[1].offset) & 0xFFFFFFFF
    assert compare(acc, faces(3))["bit_exact"]
    assert acc.backend.ip.read(flag) == 0
    ddr = dev._memory.locate(buf.physical_address, buf.nbytes)[1]
    fc, pw = rs[1], rs[0]
    ddr[fc.offset:fc.offset + fc.nbytes] ^= 0x11
    assert compare(acc, faces(2))["bit_exact"]  # from the cache
    ddr[pw.offset:pw.offset + pw.nbytes] ^= 0x11
    assert not compare(acc, faces(1))["bit_exact"]  # emb.pw streams its rows each frame


def test_a_cache_never_loaded_is_named_on_the_golden_fabric(cached_design, tmp_path):
    acc = Accelerator(cached_design, backend="board",
                      bitstream_dir=write_simulated_overlay(cached_design, tmp_path / "ov"),
                      device=SimulatedZynqMP("zcu104", fabric="golden"), timeout_s=0.2)
    acc.backend.ip.write(acc.backend.load_flag, 0)
    with pytest.raises(SimulatedBoardError, match="URAM cache was never loaded: node fc"):
        acc.infer(faces(1))


# ---- a design whose stage 4 the shared block engine runs, its rows read from DDR each frame -----
@pytest.fixture(scope="module")
def shared_design(tmp_path_factory):
    from hls.shared_part import share

    arch = vargfacenet(0.25, 32, last_channels=64, emb_size=32, units=(2, 2, 2))
    acc = lower(arch, QuantConfig(4, 4), {})
    x, _ = load_orl((1, 2, 3), 32, per_id=2)
    params = random_params(acc, x, seed=9)
    out = tmp_path_factory.mktemp("shared")
    write_design(share(acc, ["stage4"], 2), params, np.full(32, 1e-3), {"l2norm": True}, out)
    return out


def test_the_shared_engine_reads_its_rows_from_the_host_buffer_bit_exactly(shared_design, tmp_path):
    """The shared part's master is aimed at its region of the buffer pynq.allocate gave; its
    rows corrupted in DDR reach the result; on the golden fabric such a buffer is named."""
    from hls.params_buffer import SHARED_REGION, masters, regions

    dev = SimulatedZynqMP("zcu104", fabric="csim")
    acc = Accelerator(shared_design, backend="board",
                      bitstream_dir=write_simulated_overlay(shared_design, tmp_path / "ov"), device=dev)
    (m,), (r,) = masters(acc.desc), regions(acc.desc)
    assert m.node == r.node == SHARED_REGION and acc.desc.version == 7
    buf = acc.backend.params_buf
    assert acc.backend.ip.read(bd.ddr_pointer_offset(0)) == (buf.physical_address + r.offset) & 0xFFFFFFFF
    assert compare(acc, faces(3))["bit_exact"]
    ddr = dev._memory.locate(buf.physical_address, buf.nbytes)[1]
    ddr[r.offset:r.offset + r.nbytes] ^= 0x11
    assert not compare(acc, faces(2))["bit_exact"]
    gold = SimulatedZynqMP("zcu104", fabric="golden")
    acc = Accelerator(shared_design, backend="board",
                      bitstream_dir=write_simulated_overlay(shared_design, tmp_path / "ov2"), device=gold, timeout_s=0.2)
    g = gold._memory.locate(acc.backend.params_buf.physical_address, acc.backend.params_buf.nbytes)[1]
    g[r.offset] ^= 0x01
    with pytest.raises(SimulatedBoardError, match="the shared engine: its DDR region differs"):
        acc.infer(faces(1))
