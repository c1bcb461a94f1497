"""Images: one picture per scene, cached by everything that decides how it looks."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from server.models import AssetKind
from server.pipeline.context import StageContext, replace_asset, temp_beside
from server.providers.types import ImageStyle, SceneSpec
from server.providers.images import pillow_card


def run(ctx: StageContext) -> None:
    job = ctx.job()
    render = ctx.render_settings()
    style = ImageStyle(width=render.width, height=render.height, theme=render.theme, title=job.title or "",
                       scene_count=len(job.scenes))
    specs = [SceneSpec(s.index, s.text, s.concept, s.visual) for s in job.scenes]

    def draw(spec: SceneSpec):
        target = ctx.cached("images", pillow_card.NAME, pillow_card.VERSION, spec.concept, spec.index, style,
                            suffix=".png")
        if not target.exists():
            temp = temp_beside(target)
            pillow_card.render(spec, style, temp)
            os.replace(temp, target)
        return target

    with ThreadPoolExecutor(max_workers=ctx.settings.render_workers) as pool:
        paths = list(pool.map(draw, specs))
    for scene, path in zip(job.scenes, paths):
        replace_asset(job.id, scene.id, AssetKind.IMAGE, path, pillow_card.NAME)
