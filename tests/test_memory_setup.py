"""visionzoo asks torch for huge pages only when it runs before torch is imported and the user has not chosen."""
import os
import subprocess
import sys

from visionzoo._memory import HUGE_PAGES_ENV, request_huge_pages


def test_requests_huge_pages_before_torch_on_linux():
    env: dict[str, str] = {}
    assert request_huge_pages(env, modules=set(), platform="linux") and env == {HUGE_PAGES_ENV: "1"}


def test_leaves_the_users_choice_a_late_import_and_other_systems_alone():
    env = {HUGE_PAGES_ENV: "0"}
    assert not request_huge_pages(env, modules=set(), platform="linux") and env == {HUGE_PAGES_ENV: "0"}
    env = {}
    assert not request_huge_pages(env, modules={"torch"}, platform="linux") and env == {}
    assert not request_huge_pages(env, modules=set(), platform="darwin") and env == {}


def test_importing_visionzoo_first_enables_them_for_torch():
    env = {k: v for k, v in os.environ.items() if k != HUGE_PAGES_ENV}
    code = "import os, visionzoo, torch; print(os.environ.get('%s'))" % HUGE_PAGES_ENV
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == ("1" if sys.platform.startswith("linux") else "None")


def test_trim_heap_hands_memory_back_where_glibc_has_it():
    from visionzoo.utils.memory import _glibc, trim_heap

    assert trim_heap() is (_glibc() is not None)
