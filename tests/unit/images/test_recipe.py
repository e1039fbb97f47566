"""labctl.images.recipe: the optional FreeSWITCH add-on, where its source comes from, and what the
input digest says about it (the source and the .debs' names and hashes, never the token)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from labctl.errors import ImageRecipeError, LabctlError
from labctl.images.recipe import (
    BUILDER_VERSION,
    DEBS_VAR,
    TOKEN_VAR,
    FreeswitchSource,
    ImageRecipe,
    freeswitch_source,
    load_image_recipe,
)

TOKEN = "pat_not-a-real-token-0123456789"


def legacy_digest(recipe: ImageRecipe) -> str:
    """The digest as computed before add-ons existed: every plain field of the recipe."""
    plain = {f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe)}
    del plain["freeswitch"], plain["freeswitch_source"]
    return hashlib.sha256(json.dumps({"builder": BUILDER_VERSION, **plain}, sort_keys=True).encode()).hexdigest()


def test_the_shipped_recipe_declares_the_addon(images: Path) -> None:
    recipe = load_image_recipe("lab", {})
    assert recipe.freeswitch is not None
    assert recipe.freeswitch.repository == "https://freeswitch.signalwire.com/repo/deb/debian-release/"
    assert recipe.freeswitch.keyring.endswith("/signalwire-freeswitch-repo.gpg")
    assert {"freeswitch", "freeswitch-mod-sofia", "freeswitch-mod-xml-curl"} <= set(recipe.freeswitch.packages)
    assert recipe.freeswitch.services == ("freeswitch",)
    assert "freeswitch" not in recipe.packages  # never from Debian: it is in no suite


def test_without_a_source_the_digest_is_the_one_from_before_addons(images: Path) -> None:
    recipe = load_image_recipe("lab", {})
    assert recipe.freeswitch_source is None and recipe.freeswitch_active() is None
    plain = load_image_recipe("plain", {})
    assert plain.freeswitch is None
    assert recipe.digest() == legacy_digest(recipe)
    assert recipe.digest() == dataclasses.replace(plain, name="lab").digest()


def test_a_token_selects_signalwire_and_changes_the_digest_but_is_not_part_of_it(images: Path) -> None:
    none = load_image_recipe("lab", {})
    one = load_image_recipe("lab", {TOKEN_VAR: TOKEN})
    other = load_image_recipe("lab", {TOKEN_VAR: "pat_another-token"})
    assert one.freeswitch_source is not None and one.freeswitch_source.kind == "signalwire"
    assert one.freeswitch_source.token == TOKEN
    assert one.digest() != none.digest()
    assert one.digest() == other.digest()
    assert TOKEN not in repr(one)
    assert TOKEN not in json.dumps(one.freeswitch_source.fingerprint())


def test_a_blank_token_or_folder_is_no_source(images: Path) -> None:
    assert load_image_recipe("lab", {TOKEN_VAR: "  ", DEBS_VAR: ""}).freeswitch_source is None


def test_local_debs_are_hashed_by_name_and_content_not_by_folder(images: Path, debs: Callable[..., Path]) -> None:
    folder = debs()
    recipe = load_image_recipe("lab", {DEBS_VAR: str(folder)})
    source = recipe.freeswitch_source
    assert source is not None and source.kind == "local-debs"
    assert [path.name for path, _ in source.debs] == sorted(p.name for p in folder.glob("*.deb"))
    assert source.fingerprint()["debs"][0] == {
        "name": "freeswitch_1.10.12_amd64.deb",
        "sha256": hashlib.sha256(b"fs").hexdigest(),
    }
    token = load_image_recipe("lab", {TOKEN_VAR: TOKEN})
    assert len({recipe.digest(), token.digest(), load_image_recipe("lab", {}).digest()}) == 3

    elsewhere = debs(folder="elsewhere")
    assert load_image_recipe("lab", {DEBS_VAR: str(elsewhere)}).digest() == recipe.digest()
    (folder / "README.txt").write_text("not a package")
    assert load_image_recipe("lab", {DEBS_VAR: str(folder)}).digest() == recipe.digest()

    (folder / "freeswitch_1.10.12_amd64.deb").write_text("rebuilt")
    changed = load_image_recipe("lab", {DEBS_VAR: str(folder)})
    assert changed.digest() != recipe.digest()
    (folder / "freeswitch-mod-sofia_1.10.12_amd64.deb").write_text("sofia")
    assert load_image_recipe("lab", {DEBS_VAR: str(folder)}).digest() != changed.digest()


def test_the_repository_settings_count_only_when_they_are_used(images: Path, debs: Callable[..., Path]) -> None:
    def with_packages(recipe: ImageRecipe) -> ImageRecipe:
        assert recipe.freeswitch is not None
        addon = dataclasses.replace(recipe.freeswitch, packages=(*recipe.freeswitch.packages, "freeswitch-mod-lua"))
        return dataclasses.replace(recipe, freeswitch=addon)

    for env, counts in (({}, False), ({DEBS_VAR: str(debs())}, False), ({TOKEN_VAR: TOKEN}, True)):
        recipe = load_image_recipe("lab", env)
        assert (with_packages(recipe).digest() != recipe.digest()) is counts, env


def test_a_recipe_without_the_addon_ignores_the_environment(images: Path, debs: Callable[..., Path]) -> None:
    plain = load_image_recipe("plain", {TOKEN_VAR: TOKEN})
    assert plain.freeswitch_source is None
    assert plain.digest() == load_image_recipe("plain", {DEBS_VAR: str(debs())}).digest()


def test_the_process_environment_is_the_default(images: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEBS_VAR, raising=False)
    monkeypatch.setenv(TOKEN_VAR, TOKEN)
    source = load_image_recipe("lab").freeswitch_source
    assert source is not None and source.kind == "signalwire"


def test_both_sources_at_once_are_refused(debs: Callable[..., Path]) -> None:
    with pytest.raises(LabctlError, match=f"{TOKEN_VAR} or {DEBS_VAR}, not both"):
        freeswitch_source({TOKEN_VAR: TOKEN, DEBS_VAR: str(debs())})


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_a_folder_without_debs_is_refused(tmp_path: Path, make: str) -> None:
    path = tmp_path / "debs"
    if make == "empty":
        path.mkdir()
    elif make == "file":
        path.write_text("x")
    with pytest.raises(LabctlError, match=f"{DEBS_VAR}=.*no .deb files"):
        freeswitch_source({DEBS_VAR: str(path)})


def test_sources_compare_without_the_token() -> None:
    assert "token" not in repr(FreeswitchSource("signalwire", token=TOKEN))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("freeswitch: yes\n", "'freeswitch' is a mapping"),
        ("freeswitch: {repository: r, keyring: k, packages: [p]}\n", "'freeswitch' needs 'services'"),
        (
            "freeswitch: {repository: r, keyring: k, packages: [p], services: [], packges: []}\n",
            "unknown key in 'freeswitch' 'packges'",
        ),
    ],
)
def test_a_bad_addon_section_is_refused_with_its_line(images: Path, section: str, message: str) -> None:
    text = (images / "plain.yaml").read_text()
    (images / "bad.yaml").write_text(text + section)
    with pytest.raises(ImageRecipeError, match=message) as caught:
        load_image_recipe("bad", {})
    assert caught.value.problems[0].line == len(text.splitlines()) + 1


def test_a_recipe_that_extends_another_adds_to_its_lists_and_replaces_the_rest(images: Path) -> None:
    (images / "desk.yaml").write_text(
        "extends: lab\nkernel: linux-image-amd64\nsize_mib: 6144\npackages: [openbox, xinit]\n"
        "disable_services: [openbox-thing]\n"
    )
    base, desk = load_image_recipe("lab", {}), load_image_recipe("desk", {})
    assert desk.kernel == "linux-image-amd64" and desk.size_mib == 6144
    assert set(desk.packages) == {*base.packages, "openbox", "xinit"}
    assert set(desk.disable_services) == {*base.disable_services, "openbox-thing"}
    assert (desk.suite, desk.mirror, desk.freeswitch) == (base.suite, base.mirror, base.freeswitch)
    assert desk.digest() != base.digest()


def test_the_shipped_desktop_image_extends_the_lab_image() -> None:
    desk, lab = load_image_recipe("debian12-desktop", {}), load_image_recipe("debian12-lab", {})
    assert {"linphone-desktop", "xserver-xorg-core", "spice-vdagent", "pulseaudio"} <= set(desk.packages)
    assert set(lab.packages) < set(desk.packages) and desk.kernel == "linux-image-amd64"


@pytest.mark.parametrize(
    ("recipes", "message"),
    [
        ({"a": "extends: a\n"}, "'extends: a' makes a loop of image recipes"),
        ({"a": "extends: b\n", "b": "extends: a\n"}, "'extends: a' makes a loop of image recipes"),
        ({"a": "extends: ../lab\n"}, "'extends' names an image recipe"),
        ({"a": "extends: [lab]\n"}, "'extends' names an image recipe"),
    ],
)
def test_a_bad_extends_is_refused_with_its_line(images: Path, recipes: dict[str, str], message: str) -> None:
    for name, text in recipes.items():
        (images / f"{name}.yaml").write_text(text)
    with pytest.raises(ImageRecipeError, match=message) as caught:
        load_image_recipe("a", {})
    assert caught.value.problems[0].line == 1


def test_extending_a_missing_recipe_says_which_exist(images: Path) -> None:
    (images / "a.yaml").write_text("extends: lob\n")
    with pytest.raises(LabctlError, match=r"no image recipe 'lob' .*did you mean 'lab'"):
        load_image_recipe("a", {})
