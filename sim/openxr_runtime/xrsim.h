/* mirrorvr simulated OpenXR runtime: shared declarations.
 *
 * The runtime plays scripted poses in (head, articulated hands, controllers) and hands rendered
 * eye images and a per-frame submission log back out, so the real pyopenxr code path of mirrorvr
 * runs in CI without a headset. Configuration comes from environment variables (see README.md
 * next to this file); everything is in OpenXR conventions: metres, Y up, -Z forward.
 */
#ifndef MIRRORVR_XRSIM_H
#define MIRRORVR_XRSIM_H

#include <stdint.h>

#define XRSIM_JOINTS 26
/* tracked devices of the controller script: 0 left hand, 1 right hand, then the
 * XR_HTCX_vive_tracker_interaction roles left_foot, right_foot, left_knee, right_knee */
#define XRSIM_DEVICES 6
#define XRSIM_MAX_COMMANDS 256

typedef struct { float x, y, z; } Vec3;
typedef struct { float x, y, z, w; } Quat;
typedef struct { Quat q; Vec3 p; } Pose;

Vec3 v3_add(Vec3 a, Vec3 b);
Quat q_mul(Quat a, Quat b);
Quat q_conj(Quat a);
Quat q_norm(Quat a);
Vec3 q_rotate(Quat q, Vec3 v);
Pose pose_mul(Pose a, Pose b);   /* a ∘ b: b expressed in a's frame, result in a's parent */
Pose pose_inv(Pose a);
Pose pose_identity(void);

/* A keyframed trajectory: rows of `stride` floats at times `t` (seconds since session begin),
 * one track per hand where the file has a hand column. Sampling interpolates linearly and
 * renormalises the quaternions found at `quat_offsets`. */
typedef struct {
    int n, cap, stride;
    double *t;
    float *v;
} Track;

/* Loads a CSV file. has_hand: second column is the hand ("left"/"right" or 0/1), rows go to
 * tracks[0]/tracks[1]; otherwise all rows go to tracks[0]. Lines that do not start with a
 * number (headers, comments) are skipped. Returns 0, or -1 with a message on stderr. */
int track_load_csv(const char *path, int stride, int has_hand, Track *tracks, int ntracks);
int xrsim_device(const char *name);
/* Samples a track at time t into out[stride]; returns 0 if the track is empty. */
int track_sample(const Track *tr, double t, float *out, const int *quat_offsets, int nquat);

/* A scripted command: `frame command args` from XRSIM_SCRIPT, or from xrsim_command(). */
typedef struct {
    long frame;     /* run at this submitted-frame count, or */
    double at_s;    /* at the first frame displayed this long after xrBeginSession (-1: unused) */
    char verb[32];
    char arg1[32];
    char arg2[480];
    int done;
} Command;

/* Parses one command line: "120 capture left /tmp/x.ppm" (at frame 120) or
 * "t=2.5 unfocus" (at 2.5 s of session time); with_frame=0 for live commands. */
int command_parse(const char *line, int with_frame, Command *out);

#endif
