/* Pose maths, scripted trajectories and command parsing for the simulated runtime. */
#define _GNU_SOURCE
#include "xrsim.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Vec3 v3_add(Vec3 a, Vec3 b) { return (Vec3){a.x + b.x, a.y + b.y, a.z + b.z}; }

Quat q_mul(Quat a, Quat b) {
    return (Quat){
        a.w * b.x + a.x * b.w + a.y * b.z - a.z * b.y,
        a.w * b.y - a.x * b.z + a.y * b.w + a.z * b.x,
        a.w * b.z + a.x * b.y - a.y * b.x + a.z * b.w,
        a.w * b.w - a.x * b.x - a.y * b.y - a.z * b.z,
    };
}

Quat q_conj(Quat a) { return (Quat){-a.x, -a.y, -a.z, a.w}; }

Quat q_norm(Quat a) {
    float n = sqrtf(a.x * a.x + a.y * a.y + a.z * a.z + a.w * a.w);
    if (n < 1e-9f) return (Quat){0, 0, 0, 1};
    return (Quat){a.x / n, a.y / n, a.z / n, a.w / n};
}

Vec3 q_rotate(Quat q, Vec3 v) {
    Quat p = {v.x, v.y, v.z, 0};
    Quat r = q_mul(q_mul(q, p), q_conj(q));
    return (Vec3){r.x, r.y, r.z};
}

Pose pose_mul(Pose a, Pose b) {
    Pose r;
    r.q = q_norm(q_mul(a.q, b.q));
    r.p = v3_add(a.p, q_rotate(a.q, b.p));
    return r;
}

Pose pose_inv(Pose a) {
    Pose r;
    r.q = q_conj(a.q);
    Vec3 p = q_rotate(r.q, a.p);
    r.p = (Vec3){-p.x, -p.y, -p.z};
    return r;
}

Pose pose_identity(void) { return (Pose){{0, 0, 0, 1}, {0, 0, 0}}; }

static void track_push(Track *tr, double t, const float *row) {
    if (tr->n == tr->cap) {
        tr->cap = tr->cap ? tr->cap * 2 : 64;
        tr->t = realloc(tr->t, sizeof(double) * (size_t)tr->cap);
        tr->v = realloc(tr->v, sizeof(float) * (size_t)tr->cap * (size_t)tr->stride);
    }
    tr->t[tr->n] = t;
    memcpy(tr->v + (size_t)tr->n * (size_t)tr->stride, row, sizeof(float) * (size_t)tr->stride);
    tr->n++;
}

/* Device index of a script's "hand" column: left/right (or 0/1) hands, then tracker roles. */
int xrsim_device(const char *name) {
    static const char *roles[] = {"left_foot", "right_foot", "left_knee", "right_knee"};
    for (int i = 0; i < 4; i++)
        if (strncmp(name, roles[i], strlen(roles[i])) == 0) return 2 + i;
    return (name[0] == 'r' || name[0] == '1') ? 1 : 0;
}

int track_load_csv(const char *path, int stride, int has_hand, Track *tracks, int ntracks) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "xrsim: cannot open trajectory %s\n", path);
        return -1;
    }
    for (int k = 0; k < ntracks; k++) tracks[k].stride = stride;
    char *line = NULL;
    size_t cap = 0;
    float *row = calloc((size_t)stride, sizeof(float));
    long lineno = 0;
    int rc = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        char *s = line;
        while (isspace((unsigned char)*s)) s++;
        if (!(isdigit((unsigned char)*s) || *s == '-' || *s == '.')) continue; /* header */
        char *tok = strtok(s, ",\n\r");
        double t = strtod(tok, NULL);
        int hand = 0;
        if (has_hand) {
            tok = strtok(NULL, ",\n\r");
            if (!tok) { rc = -1; break; }
            while (isspace((unsigned char)*tok)) tok++;
            hand = xrsim_device(tok);
            if (hand >= ntracks) continue; /* a device this script has no track for */
        }
        int i = 0;
        for (; i < stride; i++) {
            tok = strtok(NULL, ",\n\r");
            if (!tok) break;
            row[i] = strtof(tok, NULL);
        }
        if (i != stride) {
            fprintf(stderr, "xrsim: %s:%ld: expected %d values after the time%s, found %d\n", path,
                    lineno, stride, has_hand ? " and hand" : "", i);
            rc = -1;
            break;
        }
        track_push(&tracks[hand], t, row);
    }
    free(row);
    free(line);
    fclose(f);
    return rc;
}

int track_sample(const Track *tr, double t, float *out, const int *quat_offsets, int nquat) {
    if (tr->n == 0) return 0;
    int s = tr->stride;
    if (t <= tr->t[0] || tr->n == 1) {
        memcpy(out, tr->v, sizeof(float) * (size_t)s);
        return 1;
    }
    if (t >= tr->t[tr->n - 1]) {
        memcpy(out, tr->v + (size_t)(tr->n - 1) * (size_t)s, sizeof(float) * (size_t)s);
        return 1;
    }
    /* keyframes are few hundred at most: a binary search keeps long scripts cheap anyway */
    int lo = 0, hi = tr->n - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (tr->t[mid] <= t) lo = mid; else hi = mid;
    }
    double span = tr->t[hi] - tr->t[lo];
    float a = span > 0 ? (float)((t - tr->t[lo]) / span) : 0.f;
    const float *v0 = tr->v + (size_t)lo * (size_t)s, *v1 = tr->v + (size_t)hi * (size_t)s;
    for (int i = 0; i < s; i++) out[i] = v0[i] + a * (v1[i] - v0[i]);
    for (int k = 0; k < nquat; k++) {
        int o = quat_offsets[k];
        /* take the short way round before the linear blend (nlerp) */
        float dot = v0[o] * v1[o] + v0[o + 1] * v1[o + 1] + v0[o + 2] * v1[o + 2] + v0[o + 3] * v1[o + 3];
        if (dot < 0) {
            for (int i = 0; i < 4; i++) out[o + i] = v0[o + i] - a * (v1[o + i] + v0[o + i]);
        }
        Quat q = q_norm((Quat){out[o], out[o + 1], out[o + 2], out[o + 3]});
        out[o] = q.x; out[o + 1] = q.y; out[o + 2] = q.z; out[o + 3] = q.w;
    }
    return 1;
}

int command_parse(const char *line, int with_frame, Command *out) {
    memset(out, 0, sizeof(*out));
    const char *s = line;
    while (isspace((unsigned char)*s)) s++;
    if (*s == '#' || *s == 0) return -1;
    out->at_s = -1;
    if (with_frame && s[0] == 't' && s[1] == '=') {
        char *end;
        out->at_s = strtod(s + 2, &end);
        if (end == s + 2) return -1;
        out->frame = 0;
        s = end;
    } else if (with_frame) {
        char *end;
        out->frame = strtol(s, &end, 10);
        if (end == s) return -1;
        s = end;
    } else {
        out->frame = -1; /* as soon as possible */
    }
    int n = sscanf(s, "%31s %31s %479[^\n\r]", out->verb, out->arg1, out->arg2);
    return n >= 1 ? 0 : -1;
}
