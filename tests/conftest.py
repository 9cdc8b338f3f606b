import pytest

TINY = {"channels": (4, 8, 16)}


@pytest.fixture(scope="session")
def speech():
    """A real 0.5 s speech clip from the tutorial set (peak 1, 16 kHz)."""
    import daptools as dap
    return dap.data.load_clip("speech", 0, duration=0.5).audio


@pytest.fixture(scope="session")
def piano():
    """A real 0.5 s piano recording (Sonic Pi ambi_piano, CC0)."""
    import daptools as dap
    clips = [c for c in dap.data.load_clips("piano", n=50) if "ambi_piano" in c.id]
    return dap.peak_normalize(clips[0].audio[:8000])
