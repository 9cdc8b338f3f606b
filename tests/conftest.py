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


class SmokeNotebooks:
    """Notebooks executed with smoke=True during this session, kept for the book test (tests/test_book.py)."""

    def __init__(self, folder):
        self.folder = folder

    def keep(self, executed):
        import shutil
        shutil.copy(executed, self.folder / executed.name)

    def missing(self, names):
        return [n for n in names if not (self.folder / n).exists()]


@pytest.fixture(scope="session")
def smoke_notebooks(tmp_path_factory):
    """A session-wide folder of smoke-executed notebooks: tests/test_notebooks.py fills it, the book reads it."""
    return SmokeNotebooks(tmp_path_factory.mktemp("smoke_notebooks"))


def pytest_collection_modifyitems(config, items):
    """The book test runs last, so that it builds from the notebooks the notebook tests already executed."""
    items.sort(key=lambda item: item.get_closest_marker("book") is not None)
