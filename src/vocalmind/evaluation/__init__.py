"""Evaluation: subject-independent protocols, bootstrap metrics, aggregation and reports.

Typical use::

    protocol = make_protocol("loso")
    for train, test in protocol.split(X, y, groups=manifest["subject"]):
        ...
    metrics = classification_metrics(y_true, y_pred, proba=proba, groups=subjects)
    metrics["protocol"] = protocol.to_dict()
    write_report(run_dir, metrics=metrics, predictions=pred, config=cfg, title="EMO-DB")
"""

from vocalmind.evaluation.aggregation import aggregate_predictions, proba_columns
from vocalmind.evaluation.metrics import (
    HEADLINE,
    classification_metrics,
    concordance_cc,
    regression_metrics,
)
from vocalmind.evaluation.plots import (
    bootstrap_interval_plot,
    plot_confusion_matrix,
    plot_error_histogram,
    plot_per_class,
    plot_regression_scatter,
    plot_roc_curves,
    report_figures,
    save_figure,
)
from vocalmind.evaluation.protocols import (
    Protocol,
    available_protocols,
    check_no_leakage,
    inner_cv,
    make_protocol,
)
from vocalmind.evaluation.report import NOT_A_DIAGNOSIS, is_clinical, write_report

__all__ = [
    "HEADLINE",
    "NOT_A_DIAGNOSIS",
    "Protocol",
    "aggregate_predictions",
    "available_protocols",
    "bootstrap_interval_plot",
    "check_no_leakage",
    "classification_metrics",
    "concordance_cc",
    "inner_cv",
    "is_clinical",
    "make_protocol",
    "plot_confusion_matrix",
    "plot_error_histogram",
    "plot_per_class",
    "plot_regression_scatter",
    "plot_roc_curves",
    "proba_columns",
    "regression_metrics",
    "report_figures",
    "save_figure",
    "write_report",
]
