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

Ensemble members (``ensemble_pool``)
    ``"class"`` (default) or ``"segment"``: one set of members per pool of
    products (demand class, or ``demand_class|product_group``).  Every
    combination of 1..``ensemble_size`` models that cover at least 90 % of the
    pool's backtest points is scored by its pooled backtest WAPE (the
    combination's forecast is the mean of the members available at a point);
    the best combination wins, exact ties going to the smaller, simpler one.
    Pooling thousands of points makes the choice far less noisy than a
    choice per product made from 15 points: on months not used to choose it
    the class-pooled ensemble was 22 % better than the baseline and better
    than every single model, the per-product top-3 ensemble 17 % (README
    "Accuracy").  A pool with fewer than ``ensemble_min_pool_points`` points
    does not choose: new products then get ``new_product_ensemble`` (by
    default cold start alone: with its launch curve it beat its mean with
    LightGBM on new products by 3-5 % WAPE), other products the per-product
    ranking below.
    ``"product"``: the best ``ensemble_size`` models of the product's own
    ranking (below).

The reason is written to ``selection_reason`` (champion) and
``ensemble_reason`` in words, with the numbers.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import ForecastConfig

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


@dataclass
class PooledChoice:
    """Best combination of one pool: member model codes, its pooled score, the best single model's."""

    members: tuple[int, ...]
    score: float
    uses_wape: bool
    points: int
    n_combinations: int
    best_single: int
    best_single_score: float


def best_combination(
    forecasts: np.ndarray, actual: np.ndarray, max_size: int, method: str = "mean", min_cover: float = 0.9
) -> PooledChoice | None:
    """Best combination of the columns of ``forecasts`` (points x models, NaN = no forecast).

    Candidates are the models covering at least ``min_cover`` of the best-covered model's points.
    A combination forecasts the mean (``method="median"``: the median) of its members available
    at a point; it is scored by WAPE
    over the points it forecasts (MAE when the actuals sum to 0).  Combinations are tried by size,
    then in model order, and replace the best only when strictly better (after rounding), so
    ties go to the smaller, simpler combination.
    """
    avail = ~np.isnan(forecasts)
    counts = avail.sum(axis=0)
    if counts.max(initial=0) == 0:
        return None
    cand = [m for m in range(forecasts.shape[1]) if counts[m] > 0 and counts[m] >= min_cover * counts.max()]
    values = np.where(avail, forecasts, 0.0)
    abs_y = np.abs(actual)
    uses_wape = bool(abs_y.sum() > 0)
    best: tuple[float, tuple[int, ...]] | None = None
    singles: dict[int, float] = {}
    tried = 0
    for size in range(1, min(max_size, len(cand)) + 1):
        for combo in itertools.combinations(cand, size):
            cols = list(combo)
            n = avail[:, cols].sum(axis=1)
            ok = n > 0
            if method == "median" and size > 2:
                f = np.nanmedian(forecasts[ok][:, cols], axis=1)
            else:  # the median of one or two values is their mean
                f = values[ok][:, cols].sum(axis=1) / n[ok]
            err = np.abs(f - actual[ok]).sum()
            score = err / abs_y[ok].sum() if uses_wape and abs_y[ok].sum() > 0 else err / max(int(ok.sum()), 1)
            score = round(float(score), 9)
            tried += 1
            if size == 1:
                singles[combo[0]] = score
            if best is None or score < best[0]:
                best = (score, combo)
    assert best is not None
    single = min(singles, key=lambda m: (singles[m], m))
    return PooledChoice(best[1], best[0], uses_wape, int(avail.any(axis=1).sum()), tried, single, singles[single])


def _point_matrix(ev: pd.DataFrame, n_models: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluated backtest rows as ``(pid per point, forecasts points x models, actual per point)``."""
    key = ev["pid"].to_numpy(np.int64) * 100_000 + ev["origin"].to_numpy(np.int64) * 100 + ev["h"].to_numpy(np.int64)
    uniq, pos = np.unique(key, return_inverse=True)
    forecasts = np.full((len(uniq), n_models), np.nan)
    forecasts[pos, ev["model"].to_numpy(np.int64)] = ev["forecast"].to_numpy(np.float64)
    actual = np.zeros(len(uniq))
    actual[pos] = ev["actual"].to_numpy(np.float64)
    return uniq // 100_000, forecasts, actual


def pooled_ensembles(
    ev: pd.DataFrame,
    model_names: list[str],
    final_avail: np.ndarray,
    pool_codes: np.ndarray,
    pool_names: np.ndarray | list[str],
    pool_label: str,
    is_new: np.ndarray,
    config: ForecastConfig,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Ensemble members chosen per pool of products (see module docstring).

    Returns ``(members, decided, reasons)``: the ``(n_products, n_models)`` member matrix, whether
    the pool (or the new-product rule) decided for each product, and the reason per product
    (empty where it did not decide: the per-product ranking applies there).
    """
    n_products, n_models = final_avail.shape
    members = np.zeros((n_products, n_models), dtype=bool)
    decided = np.zeros(n_products, dtype=bool)
    reasons = [""] * n_products
    names = np.asarray(model_names, dtype=object)
    point_pid, forecasts, actual = _point_matrix(ev, n_models)
    point_pool = pool_codes[point_pid]
    new_members = [model_names.index(m) for m in config.new_product_ensemble if m in model_names]
    for code, label in enumerate(pool_names):
        in_pool = np.nonzero(pool_codes == code)[0]
        if len(in_pool) == 0:
            continue
        at = point_pool == code
        choice = None
        if at.sum() >= config.ensemble_min_pool_points:
            choice = best_combination(forecasts[at], actual[at], int(config.ensemble_size), config.ensemble_method)
        if choice is not None:
            metric = "WAPE" if choice.uses_wape else "MAE"
            text = (
                f"{config.ensemble_method} of {'+'.join(names[list(choice.members)])}: "
                f"best of {choice.n_combinations} model "
                f"combinations for {pool_label} {label} by pooled backtest {metric} {choice.score:.3f} over "
                f"{choice.points} points (best single model {names[choice.best_single]} "
                f"{choice.best_single_score:.3f})"
            )
            for p in in_pool:
                usable = [m for m in choice.members if final_avail[p, m]]
                if usable:
                    members[p, usable] = True
                    decided[p] = True
                    reasons[p] = (
                        text
                        if len(usable) == len(choice.members)
                        else (
                            f"{text}; {', '.join(names[[m for m in choice.members if m not in usable]])} "
                            "cannot forecast this product"
                        )
                    )
            continue
        for p in in_pool[is_new[in_pool]]:
            usable = sorted(m for m in new_members if final_avail[p, m])
            if usable:
                members[p, usable] = True
                decided[p] = True
                head = (
                    f"{config.ensemble_method} of {'+'.join(names[usable])}"
                    if len(usable) > 1
                    else f"{names[usable[0]]} alone"
                )
                reasons[p] = (
                    f"{head}: the default for new products ({pool_label} {label} has "
                    f"{int(at.sum())} backtest points < {config.ensemble_min_pool_points}, "
                    "too few to choose)"
                )
    return members, decided, reasons


LEVEL_NAMES = ("product", "segment", "class", "all products", "default order")


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
    ev = bt[bt["actual"].notna()]
    pid = ev["pid"].to_numpy(np.int64)
    model = ev["model"].to_numpy(np.int64)
    abs_e = np.abs(ev["forecast"].to_numpy(np.float64) - ev["actual"].to_numpy(np.float64))
    abs_y = np.abs(ev["actual"].to_numpy(np.float64))

    # ---- product level --------------------------------------------------
    key = pid * n_models + model
    size = n_products * n_models
    n_pts = _bincount(key, None, size).reshape(n_products, n_models)
    sae = _bincount(key, abs_e, size).reshape(n_products, n_models)
    say = _bincount(key, abs_y, size).reshape(n_products, n_models)
    avail = final_avail & (n_pts > 0)
    max_n = np.where(avail, n_pts, 0).max(axis=1) if n_models else np.zeros(n_products)
    cand = avail & (n_pts == max_n[:, None]) & (max_n[:, None] >= config.min_selection_points)
    product_level = cand.any(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mae = sae / n_pts
    order = np.zeros((n_products, n_models), dtype=np.int64)
    n_ok = np.zeros(n_products, dtype=np.int64)
    level_used = np.zeros(n_products, dtype=np.int64)
    pl = np.nonzero(product_level)[0]
    # rounding makes floating-point near-ties real ties (they go to the simpler model)
    p_score = np.where(cand[pl], np.round(mae[pl], 9), np.inf)
    order[pl] = np.argsort(p_score, axis=1, kind="stable")
    n_ok[pl] = cand[pl].sum(axis=1)

    # ---- segment / class / all-products rankings ------------------------
    n_seg = len(segment_names)
    seg_score, seg_n, seg_wape = _pooled_scores(segment_codes[pid], n_seg, model, n_models, abs_e, abs_y)
    cls_score, cls_n, cls_wape = _pooled_scores(class_codes[pid], len(class_names), model, n_models, abs_e, abs_y)
    all_score, all_n, all_wape = _pooled_scores(np.zeros(len(pid), np.int64), 1, model, n_models, abs_e, abs_y)
    sl = np.nonzero(~product_level & final_avail.any(axis=1))[0]
    if len(sl):
        default = np.tile(np.arange(n_models, dtype=np.float64), (len(sl), 1))
        if "cold_start" in model_names and "new" in class_names:
            default[class_codes[sl] == class_names.index("new"), model_names.index("cold_start")] = -1.0
        big = float(n_models + 2)
        all_products_rank = 2 * big + np.tile(_rank(all_score)[0], (len(sl), 1))
        if "new" in class_names:
            # The all-products ranking is made of established series: it says nothing about a
            # product with a few months of history, which falls back to cold start instead.
            all_products_rank[class_codes[sl] == class_names.index("new")] = np.inf
        stacked = np.stack(
            [
                _rank(seg_score)[segment_codes[sl]],
                big + _rank(cls_score)[class_codes[sl]],
                all_products_rank,
                3 * big + 1.0 + default,
            ]
        )
        combined = np.where(final_avail[sl], stacked.min(axis=0), np.inf)
        src = stacked.argmin(axis=0)
        order[sl] = np.argsort(combined, axis=1, kind="stable")
        n_ok[sl] = np.isfinite(combined).sum(axis=1)
        level_used[sl] = 1 + src[np.arange(len(sl)), order[sl, 0]]

    members = np.zeros((n_products, n_models), dtype=bool)
    for r in range(min(k_ens, n_models)):
        take = n_ok > r
        members[np.nonzero(take)[0], order[take, r]] = True
    champion = np.where(n_ok > 0, order[:, 0], -2)
    names_arr = np.asarray(model_names, dtype=object)
    ens_reasons = [
        f"{config.ensemble_method} of {'+'.join(names_arr[order[p, : min(k_ens, n_ok[p])]])}: "
        "the best models of this product's "
        f"ranking ({LEVEL_NAMES[level_used[p]]} level)"
        if n_ok[p] > 0
        else ""
        for p in range(n_products)
    ]
    pooled_decided = np.zeros(n_products, dtype=bool)
    if config.ensemble_pool in ("class", "segment"):
        if config.ensemble_pool == "class":
            pool_codes, pool_names, label = class_codes, class_names, "demand class"
        else:
            pool_codes, pool_names, label = segment_codes, segment_names, "segment"
        is_new = (class_codes == class_names.index("new")) if "new" in class_names else np.zeros(n_products, bool)
        pooled, decided, texts = pooled_ensembles(
            ev, model_names, final_avail, pool_codes, pool_names, label, is_new, config
        )
        members[decided] = pooled[decided]
        pooled_decided = decided
        for p in np.nonzero(decided)[0]:
            ens_reasons[p] = texts[p]

    # ---- ensemble, and ensemble as champion -----------------------------
    ens_bt = ensemble_backtest(bt, members, config.ensemble_method)
    ens_final = ensemble_final(final, members, config.ensemble_method)
    ens_ev = ens_bt[ens_bt["actual"].notna()]
    e_pid = ens_ev["pid"].to_numpy(np.int64)
    e_abs = np.abs(ens_ev["forecast"].to_numpy(np.float64) - ens_ev["actual"].to_numpy(np.float64))
    e_n = _bincount(e_pid, None, n_products)
    e_sae = _bincount(e_pid, e_abs, n_products)
    with np.errstate(invalid="ignore", divide="ignore"):
        e_mae = e_sae / e_n
    best_mae = mae[np.arange(n_products), np.clip(champion, 0, None)] if n_models else np.full(n_products, np.nan)
    ens_wins = (
        config.ensemble_as_candidate
        & product_level
        & (n_ok >= 2)
        & (e_n == max_n)
        & (np.round(e_mae, 9) < np.round(best_mae, 9))
    )
    champion = np.where(ens_wins, ENSEMBLE, champion)

    # product-level members in rank order, pooled members in model order (as in their reason)
    ens_members = [
        ",".join(names_arr[np.nonzero(members[p])[0]])
        if pooled_decided[p]
        else ",".join(names_arr[order[p, : min(k_ens, n_ok[p])]])
        for p in range(n_products)
    ]
    # ---- reasons --------------------------------------------------------
    reasons = []

    def fmt(p: int, m: int) -> str:
        text = f"{names_arr[m]} {mae[p, m]:.4g}"
        return f"{text} (WAPE {sae[p, m] / say[p, m]:.3f})" if say[p, m] > 0 else text

    for p in range(n_products):
        c = champion[p]
        if c == -2:
            reasons.append("no model could forecast this product")
            continue
        ranked = [int(m) for m in order[p, : n_ok[p]]]
        if product_level[p]:
            pts = int(max_n[p])
            head = f"lowest MAE over {n_origins} origins ({pts} points)"
            if c == ENSEMBLE:
                mem = ens_members[p].replace(",", "+")
                reasons.append(f"{head}: ensemble of {mem} {e_mae[p]:.4g} vs best single {fmt(p, ranked[0])}")
            elif len(ranked) > 1:
                reasons.append(f"{head}: {fmt(p, ranked[0])} vs {fmt(p, ranked[1])}")
            else:
                reasons.append(f"{head}: {fmt(p, ranked[0])} is the only model evaluated on all points")
        else:
            lvl = int(level_used[p])
            head = f"short history ({int(max_n[p])} backtest points < {config.min_selection_points})"
            if lvl == 1:
                s = segment_codes[p]
                score, npts, wflag = seg_score[s], seg_n[s], seg_wape[s]
                where = f"segment {segment_names[s]}"
            elif lvl == 2:
                s = class_codes[p]
                score, npts, wflag = cls_score[s], cls_n[s], cls_wape[s]
                where = (
                    f"demand class {class_names[s]} (segment {segment_names[segment_codes[p]]} has no usable backtest)"
                )
            elif lvl == 3:
                score, npts, wflag = all_score[0], all_n[0], all_wape[0]
                where = "all products (no usable backtest in segment or class)"
            else:
                if names_arr[c] == "cold_start":
                    reasons.append(
                        f"{head}: new product without a comparable backtest; cold start "
                        "(its group's seasonal profile scaled to its launch level)"
                    )
                else:
                    reasons.append(f"{head}: no backtest to compare; default choice {names_arr[c]}")
                continue
            metric = "WAPE" if wflag else "MAE"
            parts = [f"{names_arr[m]} {score[m]:.3f}" for m in ranked[:2] if np.isfinite(score[m])]
            reasons.append(
                f"{head}: best of {where} by pooled {metric} over {int(npts[c])} points: " + " vs ".join(parts)
            )

    champ_names = np.where(
        champion == ENSEMBLE, "ensemble", np.where(champion >= 0, names_arr[np.clip(champion, 0, None)], None)
    )
    level_names = np.asarray(LEVEL_NAMES, dtype=object)
    table = pd.DataFrame(
        {
            "pid": np.arange(n_products),
            "champion_code": champion,
            "champion_model": champ_names,
            "ensemble_members": ens_members,
            "selection_reason": reasons,
            "selection_level": level_names[level_used],
            "backtest_points": max_n.astype(np.int64),
            "ensemble_reason": ens_reasons,
        }
    )
    return Selection(table=table, members=members, ensemble_bt=ens_bt, ensemble_final=ens_final)


def ensemble_backtest(bt: pd.DataFrame, members: np.ndarray, method: str = "mean") -> pd.DataFrame:
    """Ensemble rows of the internal backtest: combine member forecasts per (pid, origin, h).

    Uses the members present at each point (all of them for product-level
    choices, which are compared on common points).
    """
    cols = ["pid", "origin", "h", "t", "forecast", "actual", "mase_scale", "level"]
    if bt.empty:
        return pd.DataFrame({c: [] for c in cols})
    sel = members[bt["pid"].to_numpy(), bt["model"].to_numpy()]
    sub = bt.loc[sel]
    if sub.empty:
        return pd.DataFrame({c: [] for c in cols})
    g = sub.groupby(["pid", "origin", "h"], sort=True)
    agg = g.agg(
        t=("t", "first"),
        forecast=("forecast", "median" if method == "median" else "mean"),
        actual=("actual", "first"),
        mase_scale=("mase_scale", "first"),
        level=("level", "first"),
    ).reset_index()
    return agg[cols]


def ensemble_final(final: np.ndarray, members: np.ndarray, method: str = "mean") -> np.ndarray:
    """Combine ``final`` ``(n, n_models, H)`` over ``members`` ``(n, n_models)`` into ``(n, H)``."""
    vals = np.where(members[:, :, None], final, np.nan)
    cnt = (~np.isnan(vals)).sum(axis=1)
    out = np.full((vals.shape[0], vals.shape[2]), np.nan)
    if method == "median":
        rows = (cnt > 0).any(axis=1)
        if rows.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[rows] = np.nanmedian(vals[rows], axis=1)
    else:
        total = np.where(np.isnan(vals), 0.0, vals).sum(axis=1)
        out = np.where(cnt > 0, total / np.maximum(cnt, 1), np.nan)
    return out
