"""Images: one picture per scene, each from the first image provider that can, through the cache.

Fallback is per picture: one scene's image may come from replicate and the next from local;
each asset records its provider.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from server.models import AssetKind
from server.pipeline.cancel import carry
from server.pipeline.context import StageContext, replace_asset
from server.providers.types import ImageRequest, ImageStyle, SceneSpec


def run(ctx: StageContext) -> None:
    job = ctx.job()
    render = ctx.render_settings()
    style = ImageStyle(width=render.width, height=render.height, theme=render.theme, title=job.title or "",
                       scene_count=len(job.scenes))
    requests = [ImageRequest(scene=SceneSpec(s.index, s.text, s.concept, s.visual, s.chapter or ""), style=style,
                             aspect=render.aspect) for s in job.scenes]
    scene_ids = [s.id for s in job.scenes]
    chain = ctx.providers("images")
    # Draw everything before writing anything: the ledger commits on its own connection.
    with ThreadPoolExecutor(max_workers=ctx.settings.render_workers) as pool:
        made = list(pool.map(carry(chain.make), requests))
    ctx.record_providers(chain)
    for scene_id, picture in zip(scene_ids, made):
        replace_asset(job.id, scene_id, AssetKind.IMAGE, picture.value.path, picture.provider)
