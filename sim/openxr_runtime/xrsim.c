/* mirrorvr simulated OpenXR runtime.
 *
 * A small OpenXR 1.0 runtime for tests: one head-mounted "system" with two views, a session
 * state machine driven by scripted commands, frames paced at XRSIM_RATE_HZ with monotonic
 * predicted display times, OpenGL (GLX) swapchains created in the application's context,
 * scripted head / hand-joint / controller trajectories, XR_EXT_hand_tracking,
 * XR_KHR_convert_timespec_time, eye-image capture and a log of every submitted frame.
 *
 * Functions it does not implement resolve to a stub returning XR_ERROR_FUNCTION_UNSUPPORTED,
 * never to a null pointer (the loader fills its dispatch table from every name it knows).
 */
#define _GNU_SOURCE
#include <GL/gl.h>
#include <GL/glext.h>
#include <GL/glx.h>
#include <X11/Xlib.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define XR_USE_PLATFORM_XLIB
#define XR_USE_GRAPHICS_API_OPENGL
#define XR_USE_TIMESPEC
#include <openxr/openxr.h>
#include <openxr/openxr_platform.h>
#include <openxr/openxr_reflection.h>

#include "xrsim.h"

#define EXPORT __attribute__((visibility("default")))

/* ---- loader negotiation (layout from the OpenXR loader's runtime interface) ----------- */
typedef enum {
    XR_LOADER_INTERFACE_STRUCT_UNINTIALIZED = 0,
    XR_LOADER_INTERFACE_STRUCT_LOADER_INFO = 1,
    XR_LOADER_INTERFACE_STRUCT_API_LAYER_REQUEST = 2,
    XR_LOADER_INTERFACE_STRUCT_RUNTIME_REQUEST = 3,
} XrLoaderInterfaceStructs;

typedef struct {
    XrLoaderInterfaceStructs structType;
    uint32_t structVersion;
    size_t structSize;
    uint32_t minInterfaceVersion;
    uint32_t maxInterfaceVersion;
    XrVersion minApiVersion;
    XrVersion maxApiVersion;
} XrNegotiateLoaderInfo;

typedef struct {
    XrLoaderInterfaceStructs structType;
    uint32_t structVersion;
    size_t structSize;
    uint32_t runtimeInterfaceVersion;
    XrVersion runtimeApiVersion;
    PFN_xrGetInstanceProcAddr getInstanceProcAddr;
} XrNegotiateRuntimeRequest;

/* XrTime is CLOCK_MONOTONIC shifted by this offset, so an application that skips
 * XR_KHR_convert_timespec_time gets visibly wrong LSL times instead of lucky right ones. */
#define XRSIM_TIME_OFFSET_NS 1000000000000LL

/* ---- objects -------------------------------------------------------------------------- */
enum { MAGIC_INSTANCE = 0x58494e53, MAGIC_SESSION, MAGIC_SPACE, MAGIC_SWAPCHAIN, MAGIC_ACTIONSET,
       MAGIC_ACTION, MAGIC_HAND };

typedef struct {
    int n, cap;
    char **s;
} PathTable;

typedef struct Instance {
    uint32_t magic;
    int hand_tracking_enabled, timespec_enabled, gl_enabled;
    XrPath paths_dummy;
} Instance;

typedef struct ActionSet {
    uint32_t magic;
    char name[XR_MAX_ACTION_SET_NAME_SIZE];
    int attached;
} ActionSet;

#define MAX_BINDINGS 8
typedef struct Action {
    uint32_t magic;
    ActionSet *set;
    XrActionType type;
    char name[XR_MAX_ACTION_NAME_SIZE];
    int nbind;
    XrPath bind[MAX_BINDINGS];
    /* last synced state per hand: value, changed flag */
    float value[XRSIM_DEVICES];
    int changed[XRSIM_DEVICES];
    int active[XRSIM_DEVICES];
} Action;

enum { SPACE_REF, SPACE_ACTION };
typedef struct Space {
    uint32_t magic;
    int kind;
    XrReferenceSpaceType ref;
    Action *action;
    int hand; /* -1 = any */
    Pose offset;
} Space;

typedef struct Swapchain {
    uint32_t magic;
    uint32_t count, width, height;
    int64_t format;
    GLuint tex[3];
    uint32_t next_acquire;
    int last_released;
    int acquired;
} Swapchain;

typedef struct HandTracker {
    uint32_t magic;
    int hand;
} HandTracker;

#define EVQ 64
typedef struct Session {
    uint32_t magic;
    XrSessionState state;
    int running, exit_requested, hidden, unfocused, tracking_lost, hands_inactive;
    int pressed[2][3]; /* scripted button presses (select, menu, squeeze) per hand */
    Display *dpy;
    GLXDrawable drawable;
    GLXContext ctx;
    XrTime begin_time;     /* xrBeginSession: t = 0 of every trajectory */
    XrTime next_display;   /* last predicted display time handed out */
    XrTime base_tick;
    long frames_waited, frames_ended;
    int frame_begun;
    FILE *frame_log;
    ActionSet *attached[8];
    int nattached;
    int suggested_simple; /* simple_controller bindings were suggested */
} Session;

/* ---- global state --------------------------------------------------------------------- */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int loaded;
    double rate_hz;
    uint32_t width, height;
    int hand_tracking;
    float ipd;
    Track head[2], hands[2], ctrl[XRSIM_DEVICES];
    int have_head, have_hands, have_ctrl;
    Command cmds[XRSIM_MAX_COMMANDS];
    int ncmds;
    char frame_log_path[512];
    char control_dir[512];
} cfg;

static PathTable g_paths;
static Instance *g_instance;
static Session *g_session;
static XrEventDataBuffer g_events[EVQ];
static int g_ev_head, g_ev_count;

static const float FOV[2][4] = {
    /* left, right, up, down (radians): mildly asymmetric like real lenses */
    {-0.87f, 0.76f, 0.84f, -0.90f},
    {-0.76f, 0.87f, 0.84f, -0.90f},
};

static XrTime now_xr(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (XrTime)ts.tv_sec * 1000000000LL + ts.tv_nsec + XRSIM_TIME_OFFSET_NS;
}

static double xr_to_mono_s(XrTime t) { return (double)(t - XRSIM_TIME_OFFSET_NS) * 1e-9; }

static void sleep_until_xr(XrTime t) {
    int64_t ns = t - XRSIM_TIME_OFFSET_NS;
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

static void load_config(void) {
    if (cfg.loaded) return;
    cfg.loaded = 1;
    cfg.rate_hz = atof(env_or("XRSIM_RATE_HZ", "90"));
    if (cfg.rate_hz <= 0) cfg.rate_hz = 90;
    cfg.width = (uint32_t)atoi(env_or("XRSIM_VIEW_WIDTH", "1440"));
    cfg.height = (uint32_t)atoi(env_or("XRSIM_VIEW_HEIGHT", "1600"));
    cfg.hand_tracking = atoi(env_or("XRSIM_HAND_TRACKING", "1"));
    cfg.ipd = (float)atof(env_or("XRSIM_IPD", "0.064"));
    const char *p;
    static const int one_quat[] = {3};
    (void)one_quat;
    if ((p = getenv("XRSIM_HEAD")) && *p) cfg.have_head = track_load_csv(p, 7, 0, cfg.head, 1) == 0;
    if ((p = getenv("XRSIM_HANDS")) && *p)
        cfg.have_hands = track_load_csv(p, XRSIM_JOINTS * 7, 1, cfg.hands, 2) == 0;
    if ((p = getenv("XRSIM_CONTROLLERS")) && *p)
        cfg.have_ctrl = track_load_csv(p, 10, 1, cfg.ctrl, XRSIM_DEVICES) == 0;
    if ((p = getenv("XRSIM_SCRIPT")) && *p) {
        FILE *f = fopen(p, "r");
        if (f) {
            char line[600];
            while (fgets(line, sizeof line, f) && cfg.ncmds < XRSIM_MAX_COMMANDS) {
                if (command_parse(line, 1, &cfg.cmds[cfg.ncmds]) == 0) cfg.ncmds++;
            }
            fclose(f);
        } else {
            fprintf(stderr, "xrsim: cannot open XRSIM_SCRIPT %s\n", p);
        }
    }
    snprintf(cfg.frame_log_path, sizeof cfg.frame_log_path, "%s", env_or("XRSIM_FRAME_LOG", ""));
    snprintf(cfg.control_dir, sizeof cfg.control_dir, "%s", env_or("XRSIM_CONTROL_DIR", ""));
}

/* ---- paths ---------------------------------------------------------------------------- */
static XrPath path_of(const char *s) {
    for (int i = 0; i < g_paths.n; i++)
        if (strcmp(g_paths.s[i], s) == 0) return (XrPath)(i + 1);
    if (g_paths.n == g_paths.cap) {
        g_paths.cap = g_paths.cap ? g_paths.cap * 2 : 64;
        g_paths.s = realloc(g_paths.s, sizeof(char *) * (size_t)g_paths.cap);
    }
    g_paths.s[g_paths.n++] = strdup(s);
    return (XrPath)g_paths.n;
}

static const char *path_str(XrPath p) {
    if (p == XR_NULL_PATH || p > (XrPath)g_paths.n) return NULL;
    return g_paths.s[p - 1];
}

static int hand_of_path(XrPath p) {
    const char *s = path_str(p);
    if (!s) return -1;
    if (strncmp(s, "/user/hand/left", 15) == 0) return 0;
    if (strncmp(s, "/user/hand/right", 16) == 0) return 1;
    static const char role[] = "/user/vive_tracker_htcx/role/";
    if (strncmp(s, role, sizeof role - 1) == 0) {
        int d = xrsim_device(s + sizeof role - 1);
        return d >= 2 ? d : -1;
    }
    return -1;
}

/* ---- events and session state --------------------------------------------------------- */
static void push_event(const void *ev, size_t size) {
    if (g_ev_count == EVQ) return; /* a real runtime drops too; our tests never fill it */
    XrEventDataBuffer *slot = &g_events[(g_ev_head + g_ev_count) % EVQ];
    memset(slot, 0, sizeof *slot);
    memcpy(slot, ev, size);
    g_ev_count++;
}

static void set_state(Session *s, XrSessionState st) {
    if (s->state == st) return;
    s->state = st;
    XrEventDataSessionStateChanged ev = {.type = XR_TYPE_EVENT_DATA_SESSION_STATE_CHANGED};
    ev.session = (XrSession)(uintptr_t)s;
    ev.state = st;
    ev.time = now_xr();
    push_event(&ev, sizeof ev);
}

/* Walk the state machine towards where the scripted flags say it should be. */
static void settle_state(Session *s) {
    if (!s->running) return;
    if (s->exit_requested || s->state == XR_SESSION_STATE_STOPPING) {
        if (s->state == XR_SESSION_STATE_FOCUSED) set_state(s, XR_SESSION_STATE_VISIBLE);
        if (s->state == XR_SESSION_STATE_VISIBLE) set_state(s, XR_SESSION_STATE_SYNCHRONIZED);
        set_state(s, XR_SESSION_STATE_STOPPING);
        return;
    }
    if (s->state == XR_SESSION_STATE_LOSS_PENDING) return;
    if (s->frames_waited == 0) return; /* synchronised once the app waits for a frame */
    if (s->state == XR_SESSION_STATE_READY) set_state(s, XR_SESSION_STATE_SYNCHRONIZED);
    if (s->hidden) {
        if (s->state == XR_SESSION_STATE_FOCUSED) set_state(s, XR_SESSION_STATE_VISIBLE);
        if (s->state == XR_SESSION_STATE_VISIBLE) set_state(s, XR_SESSION_STATE_SYNCHRONIZED);
        return;
    }
    if (s->state == XR_SESSION_STATE_SYNCHRONIZED) set_state(s, XR_SESSION_STATE_VISIBLE);
    if (s->unfocused) {
        if (s->state == XR_SESSION_STATE_FOCUSED) set_state(s, XR_SESSION_STATE_VISIBLE);
    } else if (s->state == XR_SESSION_STATE_VISIBLE) {
        set_state(s, XR_SESSION_STATE_FOCUSED);
    }
}

static double script_time(Session *s, XrTime t) {
    return s->begin_time ? (double)(t - s->begin_time) * 1e-9 : 0.0;
}

static int capture(Session *s, int eye, const char *path, const XrFrameEndInfo *info);

/* Runs due commands; captures only at xrEndFrame (info != NULL). Caller holds g_lock. */
static void run_commands(Session *s, const XrFrameEndInfo *info) {
    for (int i = 0; i < cfg.ncmds; i++) {
        Command *c = &cfg.cmds[i];
        if (c->done || (c->frame >= 0 && c->frame > s->frames_ended)) continue;
        if (c->at_s >= 0) { /* timed commands wait for the frame displayed at that time */
            if (!info || !s->begin_time || script_time(s, info->displayTime) < c->at_s) continue;
        }
        const char *v = c->verb;
        if (strcmp(v, "capture") == 0) {
            if (!info) continue;
            int eye = (c->arg1[0] == 'r' || c->arg1[0] == '1') ? 1 : 0;
            capture(s, eye, c->arg2, info);
        } else if (strcmp(v, "unfocus") == 0) {
            s->unfocused = 1;
        } else if (strcmp(v, "focus") == 0) {
            s->unfocused = 0;
        } else if (strcmp(v, "hide") == 0) {
            s->hidden = 1;
        } else if (strcmp(v, "show") == 0) {
            s->hidden = 0;
        } else if (strcmp(v, "stop") == 0) {
            s->exit_requested = 1;
        } else if (strcmp(v, "loss_pending") == 0) {
            set_state(s, XR_SESSION_STATE_LOSS_PENDING);
            XrEventDataInstanceLossPending ev = {.type = XR_TYPE_EVENT_DATA_INSTANCE_LOSS_PENDING};
            ev.lossTime = now_xr() + 2000000000LL;
            push_event(&ev, sizeof ev);
        } else if (strcmp(v, "tracking_lost") == 0) {
            s->tracking_lost = 1;
        } else if (strcmp(v, "tracking_ok") == 0) {
            s->tracking_lost = 0;
        } else if (strcmp(v, "press") == 0 || strcmp(v, "release") == 0) {
            int hand = c->arg1[0] == 'l' ? 0 : 1;
            int b = strcmp(c->arg2, "menu") == 0 ? 1 : strcmp(c->arg2, "squeeze") == 0 ? 2 : 0;
            s->pressed[hand][b] = v[0] == 'p';
        } else if (strcmp(v, "hands_inactive") == 0) {
            s->hands_inactive = 1;
        } else if (strcmp(v, "hands_active") == 0) {
            s->hands_inactive = 0;
        } else {
            fprintf(stderr, "xrsim: unknown command '%s'\n", v);
        }
        c->done = 1;
    }
    settle_state(s);
}

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Live control from another process: every file `*.cmd` dropped (atomically, by rename) into
 * XRSIM_CONTROL_DIR holds command lines; they are queued in file-name order and the file is
 * removed. Caller holds g_lock. */
static void read_control_dir(void) {
    if (!cfg.control_dir[0]) return;
    struct dirent **names;
    int n = scandir(cfg.control_dir, &names, NULL, by_name);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        size_t len = strlen(name);
        if (len > 4 && strcmp(name + len - 4, ".cmd") == 0) {
            char path[1024], line[600];
            snprintf(path, sizeof path, "%s/%s", cfg.control_dir, name);
            FILE *f = fopen(path, "r");
            if (f) {
                while (fgets(line, sizeof line, f) && cfg.ncmds < XRSIM_MAX_COMMANDS)
                    if (command_parse(line, 0, &cfg.cmds[cfg.ncmds]) == 0) cfg.ncmds++;
                fclose(f);
                unlink(path);
            }
        }
        free(names[i]);
    }
    if (n >= 0) free(names);
}

/* Live control from the test process (same library image, called through ctypes). */
EXPORT int xrsim_command(const char *line) {
    pthread_mutex_lock(&g_lock);
    load_config();
    int rc = -1;
    if (cfg.ncmds < XRSIM_MAX_COMMANDS && command_parse(line, 0, &cfg.cmds[cfg.ncmds]) == 0) {
        cfg.ncmds++;
        rc = 0;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

EXPORT long xrsim_frames_submitted(void) {
    pthread_mutex_lock(&g_lock);
    long n = g_session ? g_session->frames_ended : 0;
    pthread_mutex_unlock(&g_lock);
    return n;
}

/* ---- poses ---------------------------------------------------------------------------- */

static Pose pose_from(const float *v) {
    return (Pose){q_norm((Quat){v[3], v[4], v[5], v[6]}), {v[0], v[1], v[2]}};
}

static Pose head_pose(Session *s, XrTime t) {
    float v[7];
    static const int qo[] = {3};
    if (cfg.have_head && track_sample(&cfg.head[0], script_time(s, t), v, qo, 1)) return pose_from(v);
    return (Pose){{0, 0, 0, 1}, {0, 1.6f, 0}};
}

/* controller row: px py pz qx qy qz qw select menu squeeze */
static int controller(Session *s, int hand, XrTime t, float out[10]) {
    static const int qo[] = {3};
    if (!cfg.have_ctrl || !track_sample(&cfg.ctrl[hand], script_time(s, t), out, qo, 1)) return 0;
    for (int b = 0; hand < 2 && b < 3; b++)
        if (s->pressed[hand][b]) out[7 + b] = 1.0f;
    return 1;
}

static int space_world(Session *s, const Space *sp, XrTime t, Pose *out) {
    Pose base = pose_identity();
    int valid = 1;
    if (sp->kind == SPACE_REF) {
        if (sp->ref == XR_REFERENCE_SPACE_TYPE_VIEW) {
            base = head_pose(s, t);
            valid = !s->tracking_lost;
        } else if (sp->ref == XR_REFERENCE_SPACE_TYPE_LOCAL) {
            base.p.y = 1.6f; /* eye level above the stage floor */
        }
    } else {
        float c[10];
        int hand = sp->hand < 0 ? 1 : sp->hand;
        valid = !s->tracking_lost && controller(s, hand, t, c) && sp->action->active[hand];
        if (valid) base = pose_from(c);
    }
    *out = pose_mul(base, sp->offset);
    return valid;
}

static XrPosef to_xr(Pose p) {
    XrPosef r;
    r.orientation = (XrQuaternionf){p.q.x, p.q.y, p.q.z, p.q.w};
    r.position = (XrVector3f){p.p.x, p.p.y, p.p.z};
    return r;
}

static Pose from_xr(XrPosef p) {
    return (Pose){q_norm((Quat){p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w}),
                  {p.position.x, p.position.y, p.position.z}};
}

/* ---- handle checks -------------------------------------------------------------------- */
#define CHECK(ptr, type, magicv)                                                             \
    type *ptr = (type *)(uintptr_t)(ptr##_h);                                                \
    if (!ptr || ptr->magic != (magicv)) return XR_ERROR_HANDLE_INVALID

#define TWO_CALL(capacity, count_out, total)                                                 \
    do {                                                                                     \
        if (count_out) *(count_out) = (uint32_t)(total);                                     \
        if ((capacity) == 0) return XR_SUCCESS;                                              \
        if ((capacity) < (uint32_t)(total)) return XR_ERROR_SIZE_INSUFFICIENT;               \
    } while (0)

/* ---- global functions ----------------------------------------------------------------- */
static const XrExtensionProperties EXTENSIONS[] = {
    {XR_TYPE_EXTENSION_PROPERTIES, NULL, XR_KHR_OPENGL_ENABLE_EXTENSION_NAME, 10},
    {XR_TYPE_EXTENSION_PROPERTIES, NULL, XR_KHR_CONVERT_TIMESPEC_TIME_EXTENSION_NAME, 1},
    /* trackers: role paths /user/vive_tracker_htcx/role/{left,right}_{foot,knee}, posed by the
     * controller script's rows of those names (xrEnumerateViveTrackerPathsHTCX not offered) */
    {XR_TYPE_EXTENSION_PROPERTIES, NULL, "XR_HTCX_vive_tracker_interaction", 1},
    {XR_TYPE_EXTENSION_PROPERTIES, NULL, XR_EXT_HAND_TRACKING_EXTENSION_NAME, 4},
};

static uint32_t n_extensions(void) {
    load_config();
    return cfg.hand_tracking ? 4 : 3;
}

static XrResult xrEnumerateInstanceExtensionProperties_(const char *layer, uint32_t cap,
                                                        uint32_t *count, XrExtensionProperties *p) {
    if (layer && *layer) return XR_ERROR_API_LAYER_NOT_PRESENT;
    uint32_t n = n_extensions();
    TWO_CALL(cap, count, n);
    for (uint32_t i = 0; i < n; i++) {
        p[i].extensionVersion = EXTENSIONS[i].extensionVersion;
        memcpy(p[i].extensionName, EXTENSIONS[i].extensionName, XR_MAX_EXTENSION_NAME_SIZE);
    }
    return XR_SUCCESS;
}

static XrResult xrEnumerateApiLayerProperties_(uint32_t cap, uint32_t *count,
                                               XrApiLayerProperties *p) {
    if (count) *count = 0;
    return XR_SUCCESS;
}

static XrResult xrCreateInstance_(const XrInstanceCreateInfo *info, XrInstance *out) {
    pthread_mutex_lock(&g_lock);
    load_config();
    if (g_instance) {
        pthread_mutex_unlock(&g_lock);
        return XR_ERROR_LIMIT_REACHED; /* one instance at a time, like most runtimes */
    }
    Instance *inst = calloc(1, sizeof *inst);
    inst->magic = MAGIC_INSTANCE;
    for (uint32_t i = 0; i < info->enabledExtensionCount; i++) {
        const char *e = info->enabledExtensionNames[i];
        int found = 0;
        for (uint32_t k = 0; k < n_extensions(); k++)
            if (strcmp(e, EXTENSIONS[k].extensionName) == 0) found = 1;
        if (!found) {
            free(inst);
            pthread_mutex_unlock(&g_lock);
            return XR_ERROR_EXTENSION_NOT_PRESENT;
        }
        if (strcmp(e, XR_EXT_HAND_TRACKING_EXTENSION_NAME) == 0) inst->hand_tracking_enabled = 1;
        if (strcmp(e, XR_KHR_CONVERT_TIMESPEC_TIME_EXTENSION_NAME) == 0) inst->timespec_enabled = 1;
        if (strcmp(e, XR_KHR_OPENGL_ENABLE_EXTENSION_NAME) == 0) inst->gl_enabled = 1;
    }
    g_instance = inst;
    g_ev_count = 0;
    *out = (XrInstance)(uintptr_t)inst;
    pthread_mutex_unlock(&g_lock);
    return XR_SUCCESS;
}

static XrResult xrDestroyInstance_(XrInstance instance_h) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    pthread_mutex_lock(&g_lock);
    instance->magic = 0;
    free(instance);
    g_instance = NULL;
    pthread_mutex_unlock(&g_lock);
    return XR_SUCCESS;
}

static XrResult xrGetInstanceProperties_(XrInstance instance_h, XrInstanceProperties *p) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    p->runtimeVersion = XR_MAKE_VERSION(0, 1, 0);
    snprintf(p->runtimeName, XR_MAX_RUNTIME_NAME_SIZE, "mirrorvr simulated headset");
    return XR_SUCCESS;
}

static XrResult xrPollEvent_(XrInstance instance_h, XrEventDataBuffer *out) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    pthread_mutex_lock(&g_lock);
    if (g_session) run_commands(g_session, NULL);
    XrResult rc = XR_EVENT_UNAVAILABLE;
    if (g_ev_count) {
        memcpy(out, &g_events[g_ev_head], sizeof *out);
        g_ev_head = (g_ev_head + 1) % EVQ;
        g_ev_count--;
        rc = XR_SUCCESS;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static XrResult xrResultToString_(XrInstance instance, XrResult value, char buffer[]) {
    switch (value) {
#define XRSIM_RESULT_CASE(name, val) \
    case name:                       \
        snprintf(buffer, XR_MAX_RESULT_STRING_SIZE, "%s", #name); \
        return XR_SUCCESS;
        XR_LIST_ENUM_XrResult(XRSIM_RESULT_CASE)
    default:
        snprintf(buffer, XR_MAX_RESULT_STRING_SIZE, "XR_UNKNOWN_%s_%d", value < 0 ? "FAILURE" : "SUCCESS", (int)value);
        return XR_SUCCESS;
    }
}

static XrResult xrStructureTypeToString_(XrInstance instance, XrStructureType value, char buffer[]) {
    switch (value) {
#define XRSIM_STYPE_CASE(name, val) \
    case name:                      \
        snprintf(buffer, XR_MAX_STRUCTURE_NAME_SIZE, "%s", #name); \
        return XR_SUCCESS;
        XR_LIST_ENUM_XrStructureType(XRSIM_STYPE_CASE)
    default:
        snprintf(buffer, XR_MAX_STRUCTURE_NAME_SIZE, "XR_UNKNOWN_STRUCTURE_TYPE_%d", (int)value);
        return XR_SUCCESS;
    }
}

/* ---- system --------------------------------------------------------------------------- */
#define SYSTEM_ID 1

static XrResult xrGetSystem_(XrInstance instance_h, const XrSystemGetInfo *info, XrSystemId *id) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    if (info->formFactor != XR_FORM_FACTOR_HEAD_MOUNTED_DISPLAY) return XR_ERROR_FORM_FACTOR_UNSUPPORTED;
    *id = SYSTEM_ID;
    return XR_SUCCESS;
}

static XrResult xrGetSystemProperties_(XrInstance instance_h, XrSystemId id, XrSystemProperties *p) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    if (id != SYSTEM_ID) return XR_ERROR_SYSTEM_INVALID;
    p->systemId = id;
    p->vendorId = 0x6d76; /* "mv" */
    snprintf(p->systemName, XR_MAX_SYSTEM_NAME_SIZE, "mirrorvr simulated HMD");
    p->graphicsProperties.maxSwapchainImageWidth = 4096;
    p->graphicsProperties.maxSwapchainImageHeight = 4096;
    p->graphicsProperties.maxLayerCount = 16;
    p->trackingProperties.orientationTracking = XR_TRUE;
    p->trackingProperties.positionTracking = XR_TRUE;
    for (XrBaseOutStructure *n = p->next; n; n = n->next) {
        if (n->type == XR_TYPE_SYSTEM_HAND_TRACKING_PROPERTIES_EXT)
            ((XrSystemHandTrackingPropertiesEXT *)n)->supportsHandTracking =
                instance->hand_tracking_enabled ? XR_TRUE : XR_FALSE;
    }
    return XR_SUCCESS;
}

static XrResult xrEnumerateEnvironmentBlendModes_(XrInstance instance_h, XrSystemId id,
                                                  XrViewConfigurationType vt, uint32_t cap,
                                                  uint32_t *count, XrEnvironmentBlendMode *modes) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    TWO_CALL(cap, count, 1);
    modes[0] = XR_ENVIRONMENT_BLEND_MODE_OPAQUE;
    return XR_SUCCESS;
}

static XrResult xrEnumerateViewConfigurations_(XrInstance instance_h, XrSystemId id, uint32_t cap,
                                               uint32_t *count, XrViewConfigurationType *types) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    TWO_CALL(cap, count, 1);
    types[0] = XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO;
    return XR_SUCCESS;
}

static XrResult xrGetViewConfigurationProperties_(XrInstance instance_h, XrSystemId id,
                                                  XrViewConfigurationType vt,
                                                  XrViewConfigurationProperties *p) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    if (vt != XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO) return XR_ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED;
    p->viewConfigurationType = vt;
    p->fovMutable = XR_FALSE;
    return XR_SUCCESS;
}

static XrResult xrEnumerateViewConfigurationViews_(XrInstance instance_h, XrSystemId id,
                                                   XrViewConfigurationType vt, uint32_t cap,
                                                   uint32_t *count, XrViewConfigurationView *v) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    if (vt != XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO) return XR_ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED;
    TWO_CALL(cap, count, 2);
    for (int i = 0; i < 2; i++) {
        v[i].recommendedImageRectWidth = cfg.width;
        v[i].recommendedImageRectHeight = cfg.height;
        v[i].maxImageRectWidth = 4096;
        v[i].maxImageRectHeight = 4096;
        v[i].recommendedSwapchainSampleCount = 1;
        v[i].maxSwapchainSampleCount = 1;
    }
    return XR_SUCCESS;
}

static XrResult xrGetOpenGLGraphicsRequirementsKHR_(XrInstance instance_h, XrSystemId id,
                                                    XrGraphicsRequirementsOpenGLKHR *r) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    r->minApiVersionSupported = XR_MAKE_VERSION(3, 0, 0);
    r->maxApiVersionSupported = XR_MAKE_VERSION(4, 6, 0);
    return XR_SUCCESS;
}

/* ---- time conversion ------------------------------------------------------------------ */
static XrResult xrConvertTimespecTimeToTimeKHR_(XrInstance instance_h, const struct timespec *ts,
                                                XrTime *t) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    *t = (XrTime)ts->tv_sec * 1000000000LL + ts->tv_nsec + XRSIM_TIME_OFFSET_NS;
    return XR_SUCCESS;
}

static XrResult xrConvertTimeToTimespecTimeKHR_(XrInstance instance_h, XrTime t, struct timespec *ts) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    int64_t ns = t - XRSIM_TIME_OFFSET_NS;
    if (t <= 0 || ns < 0) return XR_ERROR_TIME_INVALID;
    ts->tv_sec = (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
    return XR_SUCCESS;
}

/* ---- session -------------------------------------------------------------------------- */
static XrResult xrCreateSession_(XrInstance instance_h, const XrSessionCreateInfo *info, XrSession *out) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    const XrGraphicsBindingOpenGLXlibKHR *gl = NULL;
    for (const XrBaseInStructure *n = info->next; n; n = n->next)
        if (n->type == XR_TYPE_GRAPHICS_BINDING_OPENGL_XLIB_KHR) gl = (const void *)n;
    if (!gl) return XR_ERROR_GRAPHICS_DEVICE_INVALID;
    if (!gl->xDisplay || !gl->glxContext) return XR_ERROR_GRAPHICS_DEVICE_INVALID;
    pthread_mutex_lock(&g_lock);
    if (g_session) {
        pthread_mutex_unlock(&g_lock);
        return XR_ERROR_LIMIT_REACHED;
    }
    Session *s = calloc(1, sizeof *s);
    s->magic = MAGIC_SESSION;
    s->dpy = gl->xDisplay;
    s->drawable = gl->glxDrawable;
    s->ctx = gl->glxContext;
    if (cfg.frame_log_path[0]) {
        s->frame_log = fopen(cfg.frame_log_path, "w");
        if (s->frame_log)
            fprintf(s->frame_log,
                    "frame,predicted_display_time,display_time_s,end_frame_time,end_frame_time_s,"
                    "display_period_ns,layers,state\n");
    }
    g_session = s;
    s->state = XR_SESSION_STATE_UNKNOWN;
    set_state(s, XR_SESSION_STATE_IDLE);
    set_state(s, XR_SESSION_STATE_READY);
    *out = (XrSession)(uintptr_t)s;
    pthread_mutex_unlock(&g_lock);
    return XR_SUCCESS;
}

static XrResult xrDestroySession_(XrSession session_h) {
    CHECK(session, Session, MAGIC_SESSION);
    pthread_mutex_lock(&g_lock);
    if (session->frame_log) fclose(session->frame_log);
    session->magic = 0;
    free(session);
    g_session = NULL;
    pthread_mutex_unlock(&g_lock);
    return XR_SUCCESS;
}

static XrResult xrBeginSession_(XrSession session_h, const XrSessionBeginInfo *info) {
    CHECK(session, Session, MAGIC_SESSION);
    if (info->primaryViewConfigurationType != XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO)
        return XR_ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED;
    pthread_mutex_lock(&g_lock);
    XrResult rc = XR_SUCCESS;
    if (session->running) rc = XR_ERROR_SESSION_RUNNING;
    else if (session->state != XR_SESSION_STATE_READY) rc = XR_ERROR_SESSION_NOT_READY;
    else {
        session->running = 1;
        session->begin_time = now_xr();
        session->base_tick = session->begin_time;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static XrResult xrEndSession_(XrSession session_h) {
    CHECK(session, Session, MAGIC_SESSION);
    pthread_mutex_lock(&g_lock);
    XrResult rc = XR_SUCCESS;
    if (!session->running) rc = XR_ERROR_SESSION_NOT_RUNNING;
    else if (session->state != XR_SESSION_STATE_STOPPING) rc = XR_ERROR_SESSION_NOT_STOPPING;
    else {
        session->running = 0;
        set_state(session, XR_SESSION_STATE_IDLE);
        if (session->exit_requested) set_state(session, XR_SESSION_STATE_EXITING);
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static XrResult xrRequestExitSession_(XrSession session_h) {
    CHECK(session, Session, MAGIC_SESSION);
    pthread_mutex_lock(&g_lock);
    XrResult rc = XR_SUCCESS;
    if (!session->running) rc = XR_ERROR_SESSION_NOT_RUNNING;
    else {
        session->exit_requested = 1;
        settle_state(session);
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* ---- frame loop ----------------------------------------------------------------------- */
static XrResult xrWaitFrame_(XrSession session_h, const XrFrameWaitInfo *info, XrFrameState *fs) {
    CHECK(session, Session, MAGIC_SESSION);
    pthread_mutex_lock(&g_lock);
    if (!session->running) {
        pthread_mutex_unlock(&g_lock);
        return XR_ERROR_SESSION_NOT_RUNNING;
    }
    XrDuration period = (XrDuration)(1e9 / cfg.rate_hz);
    XrTime now = now_xr();
    /* The app wakes on a vsync tick and has one period to render: the frame is shown on the
     * next tick. A late app skips ticks; display times stay on the grid and strictly rise. */
    int64_t k = (now - session->base_tick + period - 1) / period;
    XrTime wake = session->base_tick + k * period;
    XrTime display = wake + period;
    if (display <= session->next_display) {
        display = session->next_display + period;
        wake = display - period;
    }
    session->next_display = display;
    session->frames_waited++;
    read_control_dir();
    run_commands(session, NULL);
    XrSessionState st = session->state;
    pthread_mutex_unlock(&g_lock);
    sleep_until_xr(wake);
    fs->predictedDisplayTime = display;
    fs->predictedDisplayPeriod = period;
    fs->shouldRender = (st == XR_SESSION_STATE_VISIBLE || st == XR_SESSION_STATE_FOCUSED);
    return XR_SUCCESS;
}

static XrResult xrBeginFrame_(XrSession session_h, const XrFrameBeginInfo *info) {
    CHECK(session, Session, MAGIC_SESSION);
    pthread_mutex_lock(&g_lock);
    XrResult rc = session->running ? XR_SUCCESS : XR_ERROR_SESSION_NOT_RUNNING;
    if (rc == XR_SUCCESS) {
        if (session->frame_begun) rc = XR_FRAME_DISCARDED;
        session->frame_begun = 1;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static XrResult xrEndFrame_(XrSession session_h, const XrFrameEndInfo *info) {
    CHECK(session, Session, MAGIC_SESSION);
    XrTime end = now_xr();
    pthread_mutex_lock(&g_lock);
    if (!session->running) {
        pthread_mutex_unlock(&g_lock);
        return XR_ERROR_SESSION_NOT_RUNNING;
    }
    if (!session->frame_begun) {
        pthread_mutex_unlock(&g_lock);
        return XR_ERROR_CALL_ORDER_INVALID;
    }
    if (info->displayTime <= 0) {
        pthread_mutex_unlock(&g_lock);
        return XR_ERROR_TIME_INVALID;
    }
    for (uint32_t i = 0; i < info->layerCount; i++) {
        const XrCompositionLayerBaseHeader *l = info->layers[i];
        if (!l) {
            pthread_mutex_unlock(&g_lock);
            return XR_ERROR_LAYER_INVALID;
        }
        if (l->type == XR_TYPE_COMPOSITION_LAYER_PROJECTION) {
            const XrCompositionLayerProjection *p = (const void *)l;
            if (p->viewCount != 2) {
                pthread_mutex_unlock(&g_lock);
                return XR_ERROR_VALIDATION_FAILURE;
            }
            for (int e = 0; e < 2; e++) {
                Swapchain *sc = (Swapchain *)(uintptr_t)p->views[e].subImage.swapchain;
                if (!sc || sc->magic != MAGIC_SWAPCHAIN || sc->last_released < 0) {
                    pthread_mutex_unlock(&g_lock);
                    return XR_ERROR_LAYER_INVALID;
                }
            }
        }
    }
    session->frame_begun = 0;
    session->frames_ended++;
    if (session->frame_log) {
        fprintf(session->frame_log, "%ld,%lld,%.9f,%lld,%.9f,%lld,%u,%d\n", session->frames_ended,
                (long long)info->displayTime, xr_to_mono_s(info->displayTime), (long long)end,
                xr_to_mono_s(end), (long long)(1e9 / cfg.rate_hz), info->layerCount,
                (int)session->state);
        fflush(session->frame_log);
    }
    run_commands(session, info);
    pthread_mutex_unlock(&g_lock);
    return XR_SUCCESS;
}

/* ---- capture -------------------------------------------------------------------------- */
static int capture(Session *s, int eye, const char *path, const XrFrameEndInfo *info) {
    const XrCompositionLayerProjection *proj = NULL;
    for (uint32_t i = 0; i < info->layerCount; i++)
        if (info->layers[i]->type == XR_TYPE_COMPOSITION_LAYER_PROJECTION)
            proj = (const void *)info->layers[i];
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "xrsim: cannot write capture %s\n", path);
        return -1;
    }
    if (!proj) { /* nothing shown this frame: say so instead of writing a stale image */
        fprintf(f, "P6\n1 1\n255\n");
        fputc(0, f); fputc(0, f); fputc(0, f);
        fclose(f);
        return 0;
    }
    const XrSwapchainSubImage *sub = &proj->views[eye].subImage;
    Swapchain *sc = (Swapchain *)(uintptr_t)sub->swapchain;
    GLuint tex = sc->tex[sc->last_released];
    /* Reading a texture needs the app's context current; make it so for the read only. */
    GLXContext prev = glXGetCurrentContext();
    Display *pdpy = glXGetCurrentDisplay();
    GLXDrawable pdraw = glXGetCurrentDrawable(), pread = glXGetCurrentReadDrawable();
    if (prev != s->ctx) glXMakeCurrent(s->dpy, s->drawable, s->ctx);
    uint32_t w = sc->width, h = sc->height;
    unsigned char *px = malloc((size_t)w * h * 4);
    GLint prev_tex = 0;
    glGetIntegerv(GL_TEXTURE_BINDING_2D, &prev_tex);
    glBindTexture(GL_TEXTURE_2D, tex);
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glGetTexImage(GL_TEXTURE_2D, 0, GL_RGBA, GL_UNSIGNED_BYTE, px);
    glBindTexture(GL_TEXTURE_2D, (GLuint)prev_tex);
    if (prev != s->ctx) {
        if (prev) glXMakeContextCurrent(pdpy, pdraw, pread, prev);
        else glXMakeCurrent(s->dpy, None, NULL);
    }
    int32_t x0 = sub->imageRect.offset.x, y0 = sub->imageRect.offset.y;
    int32_t rw = sub->imageRect.extent.width, rh = sub->imageRect.extent.height;
    if (rw <= 0 || rh <= 0 || x0 + rw > (int32_t)w || y0 + rh > (int32_t)h) {
        x0 = y0 = 0; rw = (int32_t)w; rh = (int32_t)h;
    }
    size_t plen = strlen(path);
    int raw = plen > 4 && strcmp(path + plen - 4, ".raw") == 0;
    if (!raw) fprintf(f, "P6\n%d %d\n255\n", rw, rh);
    /* GL rows run bottom-up; images are written top-down */
    for (int32_t y = rh - 1; y >= 0; y--) {
        const unsigned char *row = px + ((size_t)(y0 + y) * w + (size_t)x0) * 4;
        for (int32_t x = 0; x < rw; x++) fwrite(row + x * 4, 1, raw ? 4 : 3, f);
    }
    free(px);
    fclose(f);
    return 0;
}

/* ---- swapchains ----------------------------------------------------------------------- */
static XrResult xrEnumerateSwapchainFormats_(XrSession session_h, uint32_t cap, uint32_t *count, int64_t *fmts) {
    CHECK(session, Session, MAGIC_SESSION);
    TWO_CALL(cap, count, 2);
    fmts[0] = GL_SRGB8_ALPHA8;
    fmts[1] = GL_RGBA8;
    return XR_SUCCESS;
}

static XrResult xrCreateSwapchain_(XrSession session_h, const XrSwapchainCreateInfo *info, XrSwapchain *out) {
    CHECK(session, Session, MAGIC_SESSION);
    if (info->format != GL_SRGB8_ALPHA8 && info->format != GL_RGBA8) return XR_ERROR_SWAPCHAIN_FORMAT_UNSUPPORTED;
    if (info->width == 0 || info->height == 0 || info->width > 4096 || info->height > 4096)
        return XR_ERROR_VALIDATION_FAILURE;
    if (glXGetCurrentContext() != session->ctx) return XR_ERROR_GRAPHICS_DEVICE_INVALID;
    Swapchain *sc = calloc(1, sizeof *sc);
    sc->magic = MAGIC_SWAPCHAIN;
    sc->count = 3;
    sc->width = info->width;
    sc->height = info->height;
    sc->format = info->format;
    sc->last_released = -1;
    GLint prev = 0;
    glGetIntegerv(GL_TEXTURE_BINDING_2D, &prev);
    glGenTextures(3, sc->tex);
    for (int i = 0; i < 3; i++) {
        glBindTexture(GL_TEXTURE_2D, sc->tex[i]);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
        glTexImage2D(GL_TEXTURE_2D, 0, (GLint)info->format, (GLsizei)info->width, (GLsizei)info->height,
                     0, GL_RGBA, GL_UNSIGNED_BYTE, NULL);
    }
    glBindTexture(GL_TEXTURE_2D, (GLuint)prev);
    *out = (XrSwapchain)(uintptr_t)sc;
    return XR_SUCCESS;
}

static XrResult xrDestroySwapchain_(XrSwapchain swapchain_h) {
    CHECK(swapchain, Swapchain, MAGIC_SWAPCHAIN);
    /* Textures belong to the app's context, which may be gone by now: leave them to it. */
    swapchain->magic = 0;
    free(swapchain);
    return XR_SUCCESS;
}

static XrResult xrEnumerateSwapchainImages_(XrSwapchain swapchain_h, uint32_t cap, uint32_t *count,
                                            XrSwapchainImageBaseHeader *images) {
    CHECK(swapchain, Swapchain, MAGIC_SWAPCHAIN);
    TWO_CALL(cap, count, swapchain->count);
    XrSwapchainImageOpenGLKHR *gl = (XrSwapchainImageOpenGLKHR *)images;
    for (uint32_t i = 0; i < swapchain->count; i++) {
        if (gl[i].type != XR_TYPE_SWAPCHAIN_IMAGE_OPENGL_KHR) return XR_ERROR_VALIDATION_FAILURE;
        gl[i].image = swapchain->tex[i];
    }
    return XR_SUCCESS;
}

static XrResult xrAcquireSwapchainImage_(XrSwapchain swapchain_h, const XrSwapchainImageAcquireInfo *i,
                                         uint32_t *index) {
    CHECK(swapchain, Swapchain, MAGIC_SWAPCHAIN);
    if (swapchain->acquired) return XR_ERROR_CALL_ORDER_INVALID;
    *index = swapchain->next_acquire;
    swapchain->next_acquire = (swapchain->next_acquire + 1) % swapchain->count;
    swapchain->acquired = 1;
    return XR_SUCCESS;
}

static XrResult xrWaitSwapchainImage_(XrSwapchain swapchain_h, const XrSwapchainImageWaitInfo *i) {
    CHECK(swapchain, Swapchain, MAGIC_SWAPCHAIN);
    return swapchain->acquired ? XR_SUCCESS : XR_ERROR_CALL_ORDER_INVALID;
}

static XrResult xrReleaseSwapchainImage_(XrSwapchain swapchain_h, const XrSwapchainImageReleaseInfo *i) {
    CHECK(swapchain, Swapchain, MAGIC_SWAPCHAIN);
    if (!swapchain->acquired) return XR_ERROR_CALL_ORDER_INVALID;
    swapchain->acquired = 0;
    swapchain->last_released = (int)((swapchain->next_acquire + swapchain->count - 1) % swapchain->count);
    return XR_SUCCESS;
}

/* ---- spaces and views ----------------------------------------------------------------- */
static XrResult xrEnumerateReferenceSpaces_(XrSession session_h, uint32_t cap, uint32_t *count,
                                            XrReferenceSpaceType *types) {
    CHECK(session, Session, MAGIC_SESSION);
    TWO_CALL(cap, count, 3);
    types[0] = XR_REFERENCE_SPACE_TYPE_VIEW;
    types[1] = XR_REFERENCE_SPACE_TYPE_LOCAL;
    types[2] = XR_REFERENCE_SPACE_TYPE_STAGE;
    return XR_SUCCESS;
}

static XrResult xrCreateReferenceSpace_(XrSession session_h, const XrReferenceSpaceCreateInfo *info, XrSpace *out) {
    CHECK(session, Session, MAGIC_SESSION);
    if (info->referenceSpaceType < XR_REFERENCE_SPACE_TYPE_VIEW || info->referenceSpaceType > XR_REFERENCE_SPACE_TYPE_STAGE)
        return XR_ERROR_REFERENCE_SPACE_UNSUPPORTED;
    Space *sp = calloc(1, sizeof *sp);
    sp->magic = MAGIC_SPACE;
    sp->kind = SPACE_REF;
    sp->ref = info->referenceSpaceType;
    sp->offset = from_xr(info->poseInReferenceSpace);
    *out = (XrSpace)(uintptr_t)sp;
    return XR_SUCCESS;
}

static XrResult xrGetReferenceSpaceBoundsRect_(XrSession session_h, XrReferenceSpaceType t, XrExtent2Df *b) {
    CHECK(session, Session, MAGIC_SESSION);
    b->width = 2.0f;
    b->height = 2.0f;
    return XR_SUCCESS;
}

static XrResult xrCreateActionSpace_(XrSession session_h, const XrActionSpaceCreateInfo *info, XrSpace *out) {
    CHECK(session, Session, MAGIC_SESSION);
    Action *a = (Action *)(uintptr_t)info->action;
    if (!a || a->magic != MAGIC_ACTION) return XR_ERROR_HANDLE_INVALID;
    if (a->type != XR_ACTION_TYPE_POSE_INPUT) return XR_ERROR_ACTION_TYPE_MISMATCH;
    Space *sp = calloc(1, sizeof *sp);
    sp->magic = MAGIC_SPACE;
    sp->kind = SPACE_ACTION;
    sp->action = a;
    sp->hand = hand_of_path(info->subactionPath);
    sp->offset = from_xr(info->poseInActionSpace);
    *out = (XrSpace)(uintptr_t)sp;
    return XR_SUCCESS;
}

static XrResult xrDestroySpace_(XrSpace space_h) {
    CHECK(space, Space, MAGIC_SPACE);
    space->magic = 0;
    free(space);
    return XR_SUCCESS;
}

static XrResult xrLocateSpace_(XrSpace space_h, XrSpace base_h, XrTime time, XrSpaceLocation *loc) {
    CHECK(space, Space, MAGIC_SPACE);
    CHECK(base, Space, MAGIC_SPACE);
    if (time <= 0) return XR_ERROR_TIME_INVALID;
    pthread_mutex_lock(&g_lock);
    Session *s = g_session;
    Pose a, b;
    int va = space_world(s, space, time, &a), vb = space_world(s, base, time, &b);
    pthread_mutex_unlock(&g_lock);
    if (va && vb) {
        loc->pose = to_xr(pose_mul(pose_inv(b), a));
        loc->locationFlags = XR_SPACE_LOCATION_ORIENTATION_VALID_BIT | XR_SPACE_LOCATION_POSITION_VALID_BIT |
                             XR_SPACE_LOCATION_ORIENTATION_TRACKED_BIT | XR_SPACE_LOCATION_POSITION_TRACKED_BIT;
    } else {
        loc->pose = to_xr(pose_identity());
        loc->locationFlags = 0;
    }
    return XR_SUCCESS;
}

static XrResult xrLocateViews_(XrSession session_h, const XrViewLocateInfo *info, XrViewState *state,
                               uint32_t cap, uint32_t *count, XrView *views) {
    CHECK(session, Session, MAGIC_SESSION);
    Space *base = (Space *)(uintptr_t)info->space;
    if (!base || base->magic != MAGIC_SPACE) return XR_ERROR_HANDLE_INVALID;
    if (info->viewConfigurationType != XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO)
        return XR_ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED;
    if (info->displayTime <= 0) return XR_ERROR_TIME_INVALID;
    TWO_CALL(cap, count, 2);
    pthread_mutex_lock(&g_lock);
    Pose b;
    int vb = space_world(session, base, info->displayTime, &b);
    Pose head = head_pose(session, info->displayTime);
    int lost = session->tracking_lost;
    pthread_mutex_unlock(&g_lock);
    Pose rel = pose_mul(pose_inv(b), head);
    for (int e = 0; e < 2; e++) {
        Pose eye = {{0, 0, 0, 1}, {(e == 0 ? -0.5f : 0.5f) * cfg.ipd, 0, 0}};
        views[e].pose = to_xr(pose_mul(rel, eye));
        views[e].fov = (XrFovf){FOV[e][0], FOV[e][1], FOV[e][2], FOV[e][3]};
    }
    state->viewStateFlags = (vb && !lost)
        ? (XR_VIEW_STATE_ORIENTATION_VALID_BIT | XR_VIEW_STATE_POSITION_VALID_BIT |
           XR_VIEW_STATE_ORIENTATION_TRACKED_BIT | XR_VIEW_STATE_POSITION_TRACKED_BIT)
        : 0;
    return XR_SUCCESS;
}

/* ---- paths and actions ---------------------------------------------------------------- */
static XrResult xrStringToPath_(XrInstance instance_h, const char *s, XrPath *out) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    if (!s || s[0] != '/') return XR_ERROR_PATH_FORMAT_INVALID;
    pthread_mutex_lock(&g_lock);
    *out = path_of(s);
    pthread_mutex_unlock(&g_lock);
    return XR_SUCCESS;
}

static XrResult xrPathToString_(XrInstance instance_h, XrPath p, uint32_t cap, uint32_t *count, char *buf) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    pthread_mutex_lock(&g_lock);
    const char *s = path_str(p);
    pthread_mutex_unlock(&g_lock);
    if (!s) return XR_ERROR_PATH_INVALID;
    uint32_t n = (uint32_t)strlen(s) + 1;
    TWO_CALL(cap, count, n);
    memcpy(buf, s, n);
    return XR_SUCCESS;
}

static XrResult xrCreateActionSet_(XrInstance instance_h, const XrActionSetCreateInfo *info, XrActionSet *out) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    ActionSet *as = calloc(1, sizeof *as);
    as->magic = MAGIC_ACTIONSET;
    snprintf(as->name, sizeof as->name, "%s", info->actionSetName);
    *out = (XrActionSet)(uintptr_t)as;
    return XR_SUCCESS;
}

static XrResult xrDestroyActionSet_(XrActionSet actionset_h) {
    CHECK(actionset, ActionSet, MAGIC_ACTIONSET);
    actionset->magic = 0; /* actions keep a pointer: leak the few bytes rather than dangle */
    return XR_SUCCESS;
}

static XrResult xrCreateAction_(XrActionSet set_h, const XrActionCreateInfo *info, XrAction *out) {
    CHECK(set, ActionSet, MAGIC_ACTIONSET);
    if (set->attached) return XR_ERROR_ACTIONSETS_ALREADY_ATTACHED;
    Action *a = calloc(1, sizeof *a);
    a->magic = MAGIC_ACTION;
    a->set = set;
    a->type = info->actionType;
    snprintf(a->name, sizeof a->name, "%s", info->actionName);
    *out = (XrAction)(uintptr_t)a;
    return XR_SUCCESS;
}

static XrResult xrDestroyAction_(XrAction action_h) {
    CHECK(action, Action, MAGIC_ACTION);
    action->magic = 0;
    return XR_SUCCESS;
}

/* The interaction profile the simulated controllers present (XRSIM_PROFILE); bindings the app
 * suggests for other profiles are accepted and unused, as on a real runtime. */
static const char *profile(void) {
    return env_or("XRSIM_PROFILE", "/interaction_profiles/khr/simple_controller");
}

static XrResult xrSuggestInteractionProfileBindings_(XrInstance instance_h,
                                                     const XrInteractionProfileSuggestedBinding *sb) {
    CHECK(instance, Instance, MAGIC_INSTANCE);
    pthread_mutex_lock(&g_lock);
    const char *prof = path_str(sb->interactionProfile);
    pthread_mutex_unlock(&g_lock);
    if (!prof) return XR_ERROR_PATH_INVALID;
    /* the trackers' profile binds alongside the controllers' (they are other devices) */
    int trackers = strcmp(prof, "/interaction_profiles/htc/vive_tracker_htcx") == 0;
    if (!trackers && strcmp(prof, profile()) != 0) return XR_SUCCESS;
    for (uint32_t i = 0; i < sb->countSuggestedBindings; i++) {
        Action *a = (Action *)(uintptr_t)sb->suggestedBindings[i].action;
        if (!a || a->magic != MAGIC_ACTION) return XR_ERROR_HANDLE_INVALID;
        if (a->nbind < MAX_BINDINGS) a->bind[a->nbind++] = sb->suggestedBindings[i].binding;
    }
    if (g_session && !trackers) g_session->suggested_simple = 1;
    return XR_SUCCESS;
}

static XrResult xrAttachSessionActionSets_(XrSession session_h, const XrSessionActionSetsAttachInfo *info) {
    CHECK(session, Session, MAGIC_SESSION);
    if (session->nattached) return XR_ERROR_ACTIONSETS_ALREADY_ATTACHED;
    for (uint32_t i = 0; i < info->countActionSets && i < 8; i++) {
        ActionSet *as = (ActionSet *)(uintptr_t)info->actionSets[i];
        if (!as || as->magic != MAGIC_ACTIONSET) return XR_ERROR_HANDLE_INVALID;
        as->attached = 1;
        session->attached[session->nattached++] = as;
    }
    session->suggested_simple = 1;
    return XR_SUCCESS;
}

static XrResult xrGetCurrentInteractionProfile_(XrSession session_h, XrPath top, XrInteractionProfileState *st) {
    CHECK(session, Session, MAGIC_SESSION);
    pthread_mutex_lock(&g_lock);
    st->interactionProfile =
        (cfg.have_ctrl && session->nattached && hand_of_path(top) >= 0) ? path_of(profile()) : XR_NULL_PATH;
    pthread_mutex_unlock(&g_lock);
    return XR_SUCCESS;
}

/* Value of a binding for one hand from the controller row, or -1 if the path is not bound. */
static float binding_value(const char *path, const float *c) {
    if (strstr(path, "/input/select/") || strstr(path, "/input/trigger/")) return c[7];
    if (strstr(path, "/input/menu/")) return c[8];
    if (strstr(path, "/input/squeeze/")) return c[9];
    if (strstr(path, "/pose")) return 1.0f;
    return -1.0f;
}

static XrResult xrSyncActions_(XrSession session_h, const XrActionsSyncInfo *info) {
    CHECK(session, Session, MAGIC_SESSION);
    pthread_mutex_lock(&g_lock);
    int focused = session->state == XR_SESSION_STATE_FOCUSED;
    XrTime t = session->next_display ? session->next_display : now_xr();
    for (uint32_t i = 0; i < info->countActiveActionSets; i++) {
        ActionSet *as = (ActionSet *)(uintptr_t)info->activeActionSets[i].actionSet;
        if (!as || as->magic != MAGIC_ACTIONSET) {
            pthread_mutex_unlock(&g_lock);
            return XR_ERROR_HANDLE_INVALID;
        }
        if (!as->attached) {
            pthread_mutex_unlock(&g_lock);
            return XR_ERROR_ACTIONSET_NOT_ATTACHED;
        }
    }
    /* Every action of an active set: re-read its bound inputs from the controller script. */
    (void)t;
    pthread_mutex_unlock(&g_lock);
    return focused ? XR_SUCCESS : XR_SESSION_NOT_FOCUSED;
}

static void action_state(Session *s, Action *a, XrPath sub, float *value, int *active) {
    *value = 0;
    *active = 0;
    if (s->state != XR_SESSION_STATE_FOCUSED || !a->set->attached) return;
    int want = hand_of_path(sub);
    XrTime t = s->next_display ? s->next_display : now_xr();
    for (int i = 0; i < a->nbind; i++) {
        const char *bp = path_str(a->bind[i]);
        if (!bp) continue;
        int hand = hand_of_path(a->bind[i]);
        if (hand < 0 || (want >= 0 && hand != want)) continue;
        float c[10];
        if (!controller(s, hand, t, c)) continue;
        float v = binding_value(bp, c);
        if (v < 0) continue;
        *active = 1;
        a->active[hand] = 1;
        if (v > *value) *value = v;
    }
}

static XrResult xrGetActionStateBoolean_(XrSession session_h, const XrActionStateGetInfo *gi, XrActionStateBoolean *st) {
    CHECK(session, Session, MAGIC_SESSION);
    Action *a = (Action *)(uintptr_t)gi->action;
    if (!a || a->magic != MAGIC_ACTION) return XR_ERROR_HANDLE_INVALID;
    if (a->type != XR_ACTION_TYPE_BOOLEAN_INPUT) return XR_ERROR_ACTION_TYPE_MISMATCH;
    pthread_mutex_lock(&g_lock);
    float v; int act;
    action_state(session, a, gi->subactionPath, &v, &act);
    int h = hand_of_path(gi->subactionPath) == 0 ? 0 : 1;
    XrBool32 now = v > 0.5f;
    st->isActive = act;
    st->changedSinceLastSync = act && (now != (a->value[h] > 0.5f));
    st->currentState = now;
    st->lastChangeTime = session->next_display;
    a->value[h] = v;
    pthread_mutex_unlock(&g_lock);
    return XR_SUCCESS;
}

static XrResult xrGetActionStateFloat_(XrSession session_h, const XrActionStateGetInfo *gi, XrActionStateFloat *st) {
    CHECK(session, Session, MAGIC_SESSION);
    Action *a = (Action *)(uintptr_t)gi->action;
    if (!a || a->magic != MAGIC_ACTION) return XR_ERROR_HANDLE_INVALID;
    if (a->type != XR_ACTION_TYPE_FLOAT_INPUT) return XR_ERROR_ACTION_TYPE_MISMATCH;
    pthread_mutex_lock(&g_lock);
    float v; int act;
    action_state(session, a, gi->subactionPath, &v, &act);
    int h = hand_of_path(gi->subactionPath) == 0 ? 0 : 1;
    st->isActive = act;
    st->changedSinceLastSync = act && v != a->value[h];
    st->currentState = v;
    st->lastChangeTime = session->next_display;
    a->value[h] = v;
    pthread_mutex_unlock(&g_lock);
    return XR_SUCCESS;
}

static XrResult xrGetActionStatePose_(XrSession session_h, const XrActionStateGetInfo *gi, XrActionStatePose *st) {
    CHECK(session, Session, MAGIC_SESSION);
    Action *a = (Action *)(uintptr_t)gi->action;
    if (!a || a->magic != MAGIC_ACTION) return XR_ERROR_HANDLE_INVALID;
    if (a->type != XR_ACTION_TYPE_POSE_INPUT) return XR_ERROR_ACTION_TYPE_MISMATCH;
    pthread_mutex_lock(&g_lock);
    float v; int act;
    action_state(session, a, gi->subactionPath, &v, &act);
    st->isActive = act;
    pthread_mutex_unlock(&g_lock);
    return XR_SUCCESS;
}

static XrResult xrApplyHapticFeedback_(XrSession s, const XrHapticActionInfo *i, const XrHapticBaseHeader *h) {
    return XR_SUCCESS; /* nothing to buzz */
}

static XrResult xrStopHapticFeedback_(XrSession s, const XrHapticActionInfo *i) { return XR_SUCCESS; }

/* ---- hand tracking -------------------------------------------------------------------- */
static XrResult xrCreateHandTrackerEXT_(XrSession session_h, const XrHandTrackerCreateInfoEXT *info,
                                        XrHandTrackerEXT *out) {
    CHECK(session, Session, MAGIC_SESSION);
    if (!g_instance || !g_instance->hand_tracking_enabled) return XR_ERROR_FUNCTION_UNSUPPORTED;
    if (info->handJointSet != XR_HAND_JOINT_SET_DEFAULT_EXT) return XR_ERROR_VALIDATION_FAILURE;
    HandTracker *ht = calloc(1, sizeof *ht);
    ht->magic = MAGIC_HAND;
    ht->hand = info->hand == XR_HAND_LEFT_EXT ? 0 : 1;
    *out = (XrHandTrackerEXT)(uintptr_t)ht;
    return XR_SUCCESS;
}

static XrResult xrDestroyHandTrackerEXT_(XrHandTrackerEXT hand_h) {
    CHECK(hand, HandTracker, MAGIC_HAND);
    hand->magic = 0;
    free(hand);
    return XR_SUCCESS;
}

static XrResult xrLocateHandJointsEXT_(XrHandTrackerEXT hand_h, const XrHandJointsLocateInfoEXT *li,
                                       XrHandJointLocationsEXT *loc) {
    CHECK(hand, HandTracker, MAGIC_HAND);
    Space *base = (Space *)(uintptr_t)li->baseSpace;
    if (!base || base->magic != MAGIC_SPACE) return XR_ERROR_HANDLE_INVALID;
    if (li->time <= 0) return XR_ERROR_TIME_INVALID;
    if (loc->jointCount != XRSIM_JOINTS || !loc->jointLocations) return XR_ERROR_VALIDATION_FAILURE;
    static int qo[XRSIM_JOINTS];
    for (int j = 0; j < XRSIM_JOINTS; j++) qo[j] = j * 7 + 3;
    float v[XRSIM_JOINTS * 7];
    pthread_mutex_lock(&g_lock);
    Session *s = g_session;
    Pose b;
    int vb = space_world(s, base, li->time, &b);
    int ok = vb && !s->tracking_lost && !s->hands_inactive && cfg.have_hands &&
             track_sample(&cfg.hands[hand->hand], script_time(s, li->time), v, qo, XRSIM_JOINTS);
    pthread_mutex_unlock(&g_lock);
    loc->isActive = ok ? XR_TRUE : XR_FALSE;
    Pose binv = pose_inv(b);
    for (int j = 0; j < XRSIM_JOINTS; j++) {
        XrHandJointLocationEXT *jl = &loc->jointLocations[j];
        if (!ok) {
            jl->locationFlags = 0;
            jl->pose = to_xr(pose_identity());
            jl->radius = 0;
            continue;
        }
        jl->pose = to_xr(pose_mul(binv, pose_from(v + j * 7)));
        jl->radius = j == XR_HAND_JOINT_PALM_EXT ? 0.02f : 0.008f;
        jl->locationFlags = XR_SPACE_LOCATION_ORIENTATION_VALID_BIT | XR_SPACE_LOCATION_POSITION_VALID_BIT |
                            XR_SPACE_LOCATION_ORIENTATION_TRACKED_BIT | XR_SPACE_LOCATION_POSITION_TRACKED_BIT;
    }
    return XR_SUCCESS;
}

/* ---- dispatch ------------------------------------------------------------------------- */
static XrResult unsupported(void) { return XR_ERROR_FUNCTION_UNSUPPORTED; }

static XrResult xrGetInstanceProcAddr_(XrInstance instance, const char *name, PFN_xrVoidFunction *fn);

#define FN(n) {#n, (PFN_xrVoidFunction)n##_}
static const struct { const char *name; PFN_xrVoidFunction fn; } FUNCTIONS[] = {
    FN(xrGetInstanceProcAddr), FN(xrEnumerateInstanceExtensionProperties), FN(xrEnumerateApiLayerProperties),
    FN(xrCreateInstance), FN(xrDestroyInstance), FN(xrGetInstanceProperties), FN(xrPollEvent),
    FN(xrResultToString), FN(xrStructureTypeToString), FN(xrGetSystem), FN(xrGetSystemProperties),
    FN(xrEnumerateEnvironmentBlendModes), FN(xrEnumerateViewConfigurations),
    FN(xrGetViewConfigurationProperties), FN(xrEnumerateViewConfigurationViews),
    FN(xrGetOpenGLGraphicsRequirementsKHR), FN(xrConvertTimespecTimeToTimeKHR),
    FN(xrConvertTimeToTimespecTimeKHR), FN(xrCreateSession), FN(xrDestroySession), FN(xrBeginSession),
    FN(xrEndSession), FN(xrRequestExitSession), FN(xrWaitFrame), FN(xrBeginFrame), FN(xrEndFrame),
    FN(xrEnumerateSwapchainFormats), FN(xrCreateSwapchain), FN(xrDestroySwapchain),
    FN(xrEnumerateSwapchainImages), FN(xrAcquireSwapchainImage), FN(xrWaitSwapchainImage),
    FN(xrReleaseSwapchainImage), FN(xrEnumerateReferenceSpaces), FN(xrCreateReferenceSpace),
    FN(xrGetReferenceSpaceBoundsRect), FN(xrCreateActionSpace), FN(xrDestroySpace), FN(xrLocateSpace),
    FN(xrLocateViews), FN(xrStringToPath), FN(xrPathToString), FN(xrCreateActionSet),
    FN(xrDestroyActionSet), FN(xrCreateAction), FN(xrDestroyAction),
    FN(xrSuggestInteractionProfileBindings), FN(xrAttachSessionActionSets),
    FN(xrGetCurrentInteractionProfile), FN(xrSyncActions), FN(xrGetActionStateBoolean),
    FN(xrGetActionStateFloat), FN(xrGetActionStatePose), FN(xrApplyHapticFeedback),
    FN(xrStopHapticFeedback), FN(xrCreateHandTrackerEXT), FN(xrDestroyHandTrackerEXT),
    FN(xrLocateHandJointsEXT),
};

static XrResult xrGetInstanceProcAddr_(XrInstance instance, const char *name, PFN_xrVoidFunction *fn) {
    if (!name || !fn) return XR_ERROR_VALIDATION_FAILURE;
    for (size_t i = 0; i < sizeof FUNCTIONS / sizeof FUNCTIONS[0]; i++) {
        if (strcmp(FUNCTIONS[i].name, name) == 0) {
            *fn = FUNCTIONS[i].fn;
            return XR_SUCCESS;
        }
    }
    /* The loader asks for every function it knows; a null entry would crash the caller later,
     * a stub answers with an error it can report. */
    *fn = (PFN_xrVoidFunction)unsupported;
    return strncmp(name, "xr", 2) == 0 ? XR_SUCCESS : XR_ERROR_FUNCTION_UNSUPPORTED;
}

EXPORT XrResult xrNegotiateLoaderRuntimeInterface(const XrNegotiateLoaderInfo *li, XrNegotiateRuntimeRequest *rr) {
    if (!li || !rr || li->structType != XR_LOADER_INTERFACE_STRUCT_LOADER_INFO ||
        rr->structType != XR_LOADER_INTERFACE_STRUCT_RUNTIME_REQUEST)
        return XR_ERROR_INITIALIZATION_FAILED;
    if (li->minInterfaceVersion > 1 || li->maxInterfaceVersion < 1) return XR_ERROR_INITIALIZATION_FAILED;
    if (XR_VERSION_MAJOR(li->minApiVersion) > 1 || XR_VERSION_MAJOR(li->maxApiVersion) < 1)
        return XR_ERROR_INITIALIZATION_FAILED;
    rr->runtimeInterfaceVersion = 1;
    rr->runtimeApiVersion = XR_CURRENT_API_VERSION;
    rr->getInstanceProcAddr = xrGetInstanceProcAddr_;
    return XR_SUCCESS;
}
