// Training progress: a one-line bar redrawn in place on stderr when stderr is a terminal
// (`[=====     ] 120/1000 | 3.2 it/s | ETA 4m | L_ebm -0.01 L_init 1.2`), and greppable log
// lines on stdout every N steps (`step 120 | loss_ebm ... | 85 ms/it`) whenever stdout is not
// the terminal the bar is drawn on, so pipes and log files always get the lines and a
// terminal never gets both. Left out: colours, multi-line displays, terminal width queries.
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define BAR_WIDTH 24
#define REDRAW_S  0.1

double cli_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void cli_progress_init(cli_progress *p, long start, long total, long log_every) {
    p->start = start;
    p->total = total;
    p->log_every = log_every;
    p->bar = isatty(STDERR_FILENO);
    p->lines = !(p->bar && isatty(STDOUT_FILENO));
    p->t_start = p->t_last_line = cli_now();
    p->t_last_draw = 0.0;
    p->step_last_line = start;
}

// "37s", "4m", "1h05m".
static void fmt_duration(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e8)
        snprintf(buf, n, "?");
    else if (s < 60)
        snprintf(buf, n, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%.0fm", s / 60);
    else
        snprintf(buf, n, "%.0fh%02.0fm", (double)(long)(s / 3600), (double)((long)s % 3600 / 60));
}

void cli_progress_step(cli_progress *p, const cdrl_train_stats *st) {
    const double t = cli_now();
    const long done = st->step - p->start;
    if (p->bar && (t - p->t_last_draw >= REDRAW_S || st->step == p->total)) {
        const double elapsed = t - p->t_start, rate = elapsed > 0 ? (double)done / elapsed : 0.0;
        char eta[32], speed[32], bar[BAR_WIDTH + 1];
        fmt_duration(eta, sizeof eta, rate > 0 ? (double)(p->total - st->step) / rate : -1.0);
        if (rate >= 1.0)
            snprintf(speed, sizeof speed, "%.1f it/s", rate);
        else
            snprintf(speed, sizeof speed, "%.2f s/it", rate > 0 ? 1.0 / rate : 0.0);
        const long span = p->total > 0 ? p->total : 1;
        const int fill = (int)((double)BAR_WIDTH * (double)st->step / (double)span);
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '=' : ' ';
        bar[BAR_WIDTH] = '\0';
        fprintf(stderr, "\r[%s] %ld/%ld | %s | ETA %s | L_ebm %.4g L_init %.4g\033[K", bar,
                st->step, p->total, speed, eta, (double)st->loss_ebm, (double)st->loss_init);
        fflush(stderr);
        p->t_last_draw = t;
    }
    if (p->lines && p->log_every > 0 && (st->step % p->log_every == 0 || st->step == p->total)) {
        const long n = st->step - p->step_last_line;
        const double ms = n > 0 ? 1e3 * (t - p->t_last_line) / (double)n : 0.0;
        printf("step %ld | loss_ebm %.6g | loss_init %.6g | f+ %.4g f- %.4g | lr %.3g %.3g | %.0f "
               "ms/it\n",
               st->step, (double)st->loss_ebm, (double)st->loss_init, (double)st->f_pos,
               (double)st->f_neg, (double)st->lr_ebm, (double)st->lr_init, ms);
        fflush(stdout);
        p->t_last_line = t;
        p->step_last_line = st->step;
    }
}

void cli_progress_end(cli_progress *p) {
    if (p->bar && p->t_last_draw > 0) {
        fputc('\n', stderr);
        p->t_last_draw = 0.0;
    }
}
