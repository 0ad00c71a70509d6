"""Champion choice and ensemble per product.

Product level (products with enough backtest)
    For each product the candidate models are those that (a) have a final
    forecast for it and (b) were evaluated on the product's full set of
    backtest points (the largest point count among its models; models that
    only cover part of them, e.g. cold start at young origins, are not
    compared).  When that count is at least ``min_selection_points`` the
    candidates are ranked by backtest MAE -- on identical points this is the
    same order as WAPE; exact ties go to the simpler model (order of
    :data:`demand_forecast.forecasting.config.ALL_MODELS`).  The ensemble is the mean (or
    median) of the best ``ensemble_size`` candidates; when
    ``ensemble_as_candidate`` the ensemble becomes champion if its backtest
    MAE is lower than the best single model's.

Segment level (short history, new products)
    Products with fewer points use the ranking of their segment
    ``demand_class|product_group``: every model's WAPE pooled over all
    backtest points of the segment's products (models covering less than
    half of the best-covered model's points are not ranked).  A segment
    without backtest falls back to the ranking of its demand class, then to
    the ranking over all products (not for new products: that ranking is
    made of established series), then to a fixed order (cold start first
    for new products).  The champion is the best-ranked model that has a
    final forecast for the product; the ensemble averages the best
    ``ensemble_size`` of them.

Ensemble members
    By ``ensemble_pool`` (:mod:`demand_forecast.forecasting.ensembles`): the
    best combination of models of the product's demand class (default) or
    segment, else the best ``ensemble_size`` models of the product's ranking.

The reason is written to ``selection_reason`` (champion) and
``ensemble_reason`` in words, with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import ForecastConfig
from .ensembles import ensemble_backtest, ensemble_final, pooled_ensembles

ENSEMBLE = -1  # champion code of the ensemble


@dataclass
class Selection:
    """Result of :func:`select_models`.

    ``table``: one row per product (``pid`` = product row) with
    ``champion_code`` (model index, :data:`ENSEMBLE`, or -2 = no forecast),
    ``champion_model``, ``ensemble_members`` (comma separated),
    ``selection_reason``, ``selection_level`` (``product`` / ``segment`` /
    ``class`` / ``all products`` / ``default order``), ``backtest_points`` and
    ``ensemble_reason``.
    ``members``: ``(n_products, n_models)`` bool matrix of ensemble members.
    ``ensemble_bt``: internal backtest rows of the ensemble.
    ``ensemble_final``: ``(n_products, H)`` final ensemble forecasts.
    """

    table: pd.DataFrame
    members: np.ndarray
    ensemble_bt: pd.DataFrame
    ensemble_final: np.ndarray


def _bincount(key: np.ndarray, weights: np.ndarray | None, size: int) -> np.ndarray:
    return np.bincount(key, weights=weights, minlength=size).astype(np.float64)


def _pooled_scores(keys, n_keys, model, n_models, abs_e, abs_y):
    """Pooled score per (key, model): WAPE when the key has volume, else MAE.

    Returns ``(score, n, uses_wape)``; ``score`` is +inf for models that are
    not ranked (no points, or fewer than half the points of the best-covered
    model of the key).
    """
    k = keys.astype(np.int64) * n_models + model
    size = n_keys * n_models
    n = _bincount(k, None, size).reshape(n_keys, n_models)
    sae = _bincount(k, abs_e, size).reshape(n_keys, n_models)
    say = _bincount(k, abs_y, size).reshape(n_keys, n_models)
    uses_wape = say.sum(axis=1) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        wape = sae / say
        mae = sae / n
    score = np.where(uses_wape[:, None], wape, mae)
    eligible = (n > 0) & (n >= 0.5 * n.max(axis=1, keepdims=True)) & np.isfinite(score)
    return np.where(eligible, np.round(score, 9), np.inf), n, uses_wape


def _rank(score: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of every model per row; +inf where the score is +inf."""
    order = np.argsort(score, axis=1, kind="stable")
    rank = np.empty(score.shape, dtype=np.float64)
    np.put_along_axis(
        rank, order, np.broadcast_to(np.arange(score.shape[1], dtype=np.float64), score.shape).copy(), axis=1
    )
    return np.where(np.isfinite(score), rank, np.inf)


LEVEL_NAMES = ("product", "segment", "class", "all products", "default order")


@dataclass
class Points:
    """The evaluated backtest rows (known actual) of the base models."""

    rows: pd.DataFrame
    pid: np.ndarray
    model: np.ndarray
    abs_e: np.ndarray
    abs_y: np.ndarray

    @classmethod
    def of(cls, bt: pd.DataFrame) -> Points:
        ev = bt[bt["actual"].notna()]
        return cls(
            rows=ev,
            pid=ev["pid"].to_numpy(np.int64),
            model=ev["model"].to_numpy(np.int64),
            abs_e=np.abs(ev["forecast"].to_numpy(np.float64) - ev["actual"].to_numpy(np.float64)),
            abs_y=np.abs(ev["actual"].to_numpy(np.float64)),
        )


@dataclass
class Ranking:
    """Every product's ranking of the models (``order[p, :n_ok[p]]``, best first).

    ``n_pts``, ``sae``, ``say``, ``mae``: backtest points, sum of absolute errors, sum of absolute
    actuals and MAE per (product, model); ``max_n``: the product's full set of points;
    ``product_level``: ranked on its own backtest; ``level_used``: index into
    :data:`LEVEL_NAMES` of the ranking that placed the first model.
    """

    n_pts: np.ndarray
    sae: np.ndarray
    say: np.ndarray
    mae: np.ndarray
    max_n: np.ndarray
    product_level: np.ndarray
    order: np.ndarray
    n_ok: np.ndarray
    level_used: np.ndarray


@dataclass
class PooledScores:
    """Pooled score, point count and metric flag per (pool, model) of the segment, class and all-products rankings."""

    segment: tuple[np.ndarray, np.ndarray, np.ndarray]
    demand_class: tuple[np.ndarray, np.ndarray, np.ndarray]
    everything: tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass
class Groups:
    """The segment (``demand_class|product_group``) and demand class of every product, as codes."""

    segment_codes: np.ndarray
    segment_names: np.ndarray
    class_codes: np.ndarray
    class_names: list[str]

    def is_new(self) -> np.ndarray:
        if "new" not in self.class_names:
            return np.zeros(len(self.class_codes), bool)
        return self.class_codes == self.class_names.index("new")


def product_ranking(points: Points, final_avail: np.ndarray, min_points: int) -> Ranking:
    """Rank by the product's own backtest MAE where it has ``min_points`` points (see module docstring)."""
    n_products, n_models = final_avail.shape
    key = points.pid * n_models + points.model
    size = n_products * n_models
    n_pts = _bincount(key, None, size).reshape(n_products, n_models)
    sae = _bincount(key, points.abs_e, size).reshape(n_products, n_models)
    say = _bincount(key, points.abs_y, size).reshape(n_products, n_models)
    avail = final_avail & (n_pts > 0)
    max_n = np.where(avail, n_pts, 0).max(axis=1) if n_models else np.zeros(n_products)
    cand = avail & (n_pts == max_n[:, None]) & (max_n[:, None] >= min_points)
    product_level = cand.any(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mae = sae / n_pts
    order = np.zeros((n_products, n_models), dtype=np.int64)
    n_ok = np.zeros(n_products, dtype=np.int64)
    pl = np.nonzero(product_level)[0]
    # rounding makes floating-point near-ties real ties (they go to the simpler model)
    p_score = np.where(cand[pl], np.round(mae[pl], 9), np.inf)
    order[pl] = np.argsort(p_score, axis=1, kind="stable")
    n_ok[pl] = cand[pl].sum(axis=1)
    level_used = np.zeros(n_products, dtype=np.int64)
    return Ranking(n_pts, sae, say, mae, max_n, product_level, order, n_ok, level_used)


def pooled_scores(points: Points, groups: Groups, n_models: int) -> PooledScores:
    args = (points.model, n_models, points.abs_e, points.abs_y)
    return PooledScores(
        segment=_pooled_scores(groups.segment_codes[points.pid], len(groups.segment_names), *args),
        demand_class=_pooled_scores(groups.class_codes[points.pid], len(groups.class_names), *args),
        everything=_pooled_scores(np.zeros(len(points.pid), np.int64), 1, *args),
    )


def rank_short_histories(
    ranking: Ranking,
    pooled: PooledScores,
    final_avail: np.ndarray,
    model_names: list[str],
    groups: Groups,
) -> None:
    """Rank the products without enough own backtest by segment, class, all products, default order."""
    n_models = final_avail.shape[1]
    segment_codes, class_codes, class_names = groups.segment_codes, groups.class_codes, groups.class_names
    sl = np.nonzero(~ranking.product_level & final_avail.any(axis=1))[0]
    if not len(sl):
        return
    default = np.tile(np.arange(n_models, dtype=np.float64), (len(sl), 1))
    if "cold_start" in model_names and "new" in class_names:
        default[class_codes[sl] == class_names.index("new"), model_names.index("cold_start")] = -1.0
    big = float(n_models + 2)
    all_products_rank = 2 * big + np.tile(_rank(pooled.everything[0])[0], (len(sl), 1))
    if "new" in class_names:
        # The all-products ranking is made of established series: it says nothing about a
        # product with a few months of history, which falls back to cold start instead.
        all_products_rank[class_codes[sl] == class_names.index("new")] = np.inf
    stacked = np.stack(
        [
            _rank(pooled.segment[0])[segment_codes[sl]],
            big + _rank(pooled.demand_class[0])[class_codes[sl]],
            all_products_rank,
            3 * big + 1.0 + default,
        ]
    )
    combined = np.where(final_avail[sl], stacked.min(axis=0), np.inf)
    src = stacked.argmin(axis=0)
    ranking.order[sl] = np.argsort(combined, axis=1, kind="stable")
    ranking.n_ok[sl] = np.isfinite(combined).sum(axis=1)
    ranking.level_used[sl] = 1 + src[np.arange(len(sl)), ranking.order[sl, 0]]


def ensemble_members(
    ranking: Ranking,
    points: Points,
    model_names: list[str],
    final_avail: np.ndarray,
    groups: Groups,
    config: ForecastConfig,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(members, pooled_decided, reasons)``: the ensemble members of every product and why.

    The best ``ensemble_size`` models of the product's ranking, replaced by its pool's best
    combination where ``ensemble_pool`` is ``class`` or ``segment`` and the pool decides.
    """
    n_products, n_models = final_avail.shape
    k_ens = max(1, int(config.ensemble_size))
    order, n_ok = ranking.order, ranking.n_ok
    members = np.zeros((n_products, n_models), dtype=bool)
    for r in range(min(k_ens, n_models)):
        take = n_ok > r
        members[np.nonzero(take)[0], order[take, r]] = True
    names_arr = np.asarray(model_names, dtype=object)
    reasons = [
        f"{config.ensemble_method} of {'+'.join(names_arr[order[p, : min(k_ens, n_ok[p])]])}: "
        "the best models of this product's "
        f"ranking ({LEVEL_NAMES[ranking.level_used[p]]} level)"
        if n_ok[p] > 0
        else ""
        for p in range(n_products)
    ]
    decided = np.zeros(n_products, dtype=bool)
    if config.ensemble_pool in ("class", "segment"):
        if config.ensemble_pool == "class":
            pool_codes, pool_names, label = groups.class_codes, groups.class_names, "demand class"
        else:
            pool_codes, pool_names, label = groups.segment_codes, groups.segment_names, "segment"
        pooled, decided, texts = pooled_ensembles(
            points.rows, model_names, final_avail, pool_codes, pool_names, label, groups.is_new(), config
        )
        members[decided] = pooled[decided]
        for p in np.nonzero(decided)[0]:
            reasons[p] = texts[p]
    return members, decided, reasons


def ensemble_wins(
    ranking: Ranking, champion: np.ndarray, ensemble_bt: pd.DataFrame, config: ForecastConfig
) -> tuple[np.ndarray, np.ndarray]:
    """``(wins, ensemble MAE)``: products whose ensemble beats their best single model on their own points."""
    n_products = len(champion)
    ens_ev = ensemble_bt[ensemble_bt["actual"].notna()]
    e_pid = ens_ev["pid"].to_numpy(np.int64)
    e_abs = np.abs(ens_ev["forecast"].to_numpy(np.float64) - ens_ev["actual"].to_numpy(np.float64))
    e_n = _bincount(e_pid, None, n_products)
    e_sae = _bincount(e_pid, e_abs, n_products)
    with np.errstate(invalid="ignore", divide="ignore"):
        e_mae = e_sae / e_n
    n_models = ranking.mae.shape[1]
    best_mae = (
        ranking.mae[np.arange(n_products), np.clip(champion, 0, None)] if n_models else np.full(n_products, np.nan)
    )
    wins = (
        config.ensemble_as_candidate
        & ranking.product_level
        & (ranking.n_ok >= 2)
        & (e_n == ranking.max_n)
        & (np.round(e_mae, 9) < np.round(best_mae, 9))
    )
    return wins, e_mae


def champion_reasons(
    ranking: Ranking,
    champion: np.ndarray,
    ensemble_mae: np.ndarray,
    ensemble_members_text: list[str],
    pooled: PooledScores,
    model_names: list[str],
    groups: Groups,
    n_origins: int,
    config: ForecastConfig,
) -> list[str]:
    """Why each product's champion was chosen, in words with the numbers."""
    segment_codes, segment_names, class_names = groups.segment_codes, groups.segment_names, groups.class_names
    names_arr = np.asarray(model_names, dtype=object)
    mae, sae, say = ranking.mae, ranking.sae, ranking.say

    def fmt(p: int, m: int) -> str:
        text = f"{names_arr[m]} {mae[p, m]:.4g}"
        return f"{text} (WAPE {sae[p, m] / say[p, m]:.3f})" if say[p, m] > 0 else text

    reasons = []
    for p, c in enumerate(champion):
        if c == -2:
            reasons.append("no model could forecast this product")
            continue
        ranked = [int(m) for m in ranking.order[p, : ranking.n_ok[p]]]
        if ranking.product_level[p]:
            head = f"lowest MAE over {n_origins} origins ({int(ranking.max_n[p])} points)"
            if c == ENSEMBLE:
                members = ensemble_members_text[p].replace(",", "+")
                reasons.append(
                    f"{head}: ensemble of {members} {ensemble_mae[p]:.4g} vs best single {fmt(p, ranked[0])}"
                )
            elif len(ranked) > 1:
                reasons.append(f"{head}: {fmt(p, ranked[0])} vs {fmt(p, ranked[1])}")
            else:
                reasons.append(f"{head}: {fmt(p, ranked[0])} is the only model evaluated on all points")
            continue
        level = int(ranking.level_used[p])
        head = f"short history ({int(ranking.max_n[p])} backtest points < {config.min_selection_points})"
        if level == 1:
            s = segment_codes[p]
            (score, npts, wflag), where = [a[s] for a in pooled.segment], f"segment {segment_names[s]}"
        elif level == 2:
            s = groups.class_codes[p]
            (score, npts, wflag) = [a[s] for a in pooled.demand_class]
            where = f"demand class {class_names[s]} (segment {segment_names[segment_codes[p]]} has no usable backtest)"
        elif level == 3:
            (score, npts, wflag) = [a[0] for a in pooled.everything]
            where = "all products (no usable backtest in segment or class)"
        elif names_arr[c] == "cold_start":
            reasons.append(
                f"{head}: new product without a comparable backtest; cold start "
                "(its group's seasonal profile scaled to its launch level)"
            )
            continue
        else:
            reasons.append(f"{head}: no backtest to compare; default choice {names_arr[c]}")
            continue
        metric = "WAPE" if wflag else "MAE"
        parts = [f"{names_arr[m]} {score[m]:.3f}" for m in ranked[:2] if np.isfinite(score[m])]
        reasons.append(f"{head}: best of {where} by pooled {metric} over {int(npts[c])} points: " + " vs ".join(parts))
    return reasons


def select_models(
    bt: pd.DataFrame,
    model_names: list[str],
    final: np.ndarray,
    segment_codes: np.ndarray,
    segment_names: np.ndarray,
    class_codes: np.ndarray,
    class_names: list[str],
    n_origins: int,
    config: ForecastConfig,
) -> Selection:
    """Choose champion and ensemble members for every product (see module docstring).

    Parameters
    ----------
    bt : internal backtest frame of the base models
        (:func:`demand_forecast.forecasting.backtest.backtest_long`).
    model_names : names of the model codes used in ``bt``.
    final : ``(n_products, n_models, H)`` final forecasts (NaN = none).
    segment_codes / segment_names : segment of every product.
    class_codes / class_names : demand class of every product.
    """
    n_products, n_models, _ = final.shape
    final_avail = (~np.isnan(final)).all(axis=2)
    k_ens = max(1, int(config.ensemble_size))
    groups = Groups(segment_codes, segment_names, class_codes, class_names)
    points = Points.of(bt)
    ranking = product_ranking(points, final_avail, config.min_selection_points)
    pooled = pooled_scores(points, groups, n_models)
    rank_short_histories(ranking, pooled, final_avail, model_names, groups)
    members, pooled_decided, ensemble_reasons = ensemble_members(
        ranking, points, model_names, final_avail, groups, config
    )

    ensemble_bt = ensemble_backtest(bt, members, config.ensemble_method)
    champion = np.where(ranking.n_ok > 0, ranking.order[:, 0], -2)
    wins, ensemble_mae = ensemble_wins(ranking, champion, ensemble_bt, config)
    champion = np.where(wins, ENSEMBLE, champion)

    # product-level members in rank order, pooled members in model order (as in their reason)
    names_arr = np.asarray(model_names, dtype=object)
    members_text = [
        ",".join(names_arr[np.nonzero(members[p])[0]])
        if pooled_decided[p]
        else ",".join(names_arr[ranking.order[p, : min(k_ens, ranking.n_ok[p])]])
        for p in range(n_products)
    ]
    reasons = champion_reasons(
        ranking, champion, ensemble_mae, members_text, pooled, model_names, groups, n_origins, config
    )
    champion_names = np.where(
        champion == ENSEMBLE, "ensemble", np.where(champion >= 0, names_arr[np.clip(champion, 0, None)], None)
    )
    table = pd.DataFrame(
        {
            "pid": np.arange(n_products),
            "champion_code": champion,
            "champion_model": champion_names,
            "ensemble_members": members_text,
            "selection_reason": reasons,
            "selection_level": np.asarray(LEVEL_NAMES, dtype=object)[ranking.level_used],
            "backtest_points": ranking.max_n.astype(np.int64),
            "ensemble_reason": ensemble_reasons,
        }
    )
    return Selection(
        table=table,
        members=members,
        ensemble_bt=ensemble_bt,
        ensemble_final=ensemble_final(final, members, config.ensemble_method),
    )
