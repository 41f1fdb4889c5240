"""Tagging a digest for replication: the same manifest bytes PUT by tag, on a real registry
(open, htpasswd and token auth), the tag then naming exactly that digest."""

from __future__ import annotations

import pytest

from resources.registry import ManifestNotFound, RegistryClient
from tests.support.oci import push_image, push_multiarch


@pytest.mark.parametrize("kind", ["registry", "registry_basic", "registry_token"])
def test_a_digest_gets_a_tag_that_names_exactly_it(kind, request, unique_repo):
    reg = request.getfixturevalue(kind)
    digest = push_image(reg, unique_repo, "sha-1234567", content=b"tag me")
    with RegistryClient(reg.url, reg.username, reg.password) as client:
        image = reg.image(unique_repo)
        done = client.tag_manifest(image, digest=digest, tag="prod-sha-1234567")
        assert (done.method, done.computed_digest) == ("PUT", digest)
        assert client.head_digest(image, "prod-sha-1234567") == digest
        again = client.tag_manifest(image, digest=digest, tag="prod-sha-1234567")  # idempotent
        assert again.computed_digest == digest


def test_an_index_keeps_its_digest_and_a_missing_digest_tags_nothing(registry, unique_repo):
    pushed = push_multiarch(registry, unique_repo, "2.0")
    image = registry.image(unique_repo)
    with RegistryClient(registry.url) as client:
        client.tag_manifest(image, digest=pushed.index_digest, tag="prod-2.0")
        assert client.resolve(image, tag="prod-2.0").digest == pushed.index_digest
        with pytest.raises(ManifestNotFound):
            client.tag_manifest(image, digest="sha256:" + "d" * 64, tag="prod-none")
        assert client.head_digest(image, "prod-none") is None
