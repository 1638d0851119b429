"""The scene's GLSL: GPU skinning and soft, physically motivated lighting with shadows.

One lighting model for skin and room, in view space (per pixel on the limbs — per vertex in
the software renderers' tier, :mod:`mirrorvr.render.detail` — and per vertex on the room's flat
surfaces, where it gives the same picture):

* **key light** — the scene's one directional light (``p3d_LightSource[0]``);
* **shadows on the table** — each limb is drawn a second time, skinned, flattened onto the
  table top along the key light's direction (a planar projected shadow), darker where the limb
  is close to the table and fading as it lifts (soft contact shadows; ≈ 0.85 ms of a finished
  1280×720 frame on llvmpipe). Shadow *maps* were measured unusable on llvmpipe: panda3d's own
  and an extra depth buffer both dropped 1280×720 to 15–25 frames per CPU-second — but against
  frames llvmpipe had only queued (≈ 75 then; every extra output forces the frame to be drawn),
  so that comparison is UNVERIFIED for finished frames (26 then, ≈ 110 now). A shadow map would
  also make the table's lighting per pixel again;
* **sky/ground ambient** — a hemisphere light (pale sky above, warm bounce from the table and
  floor below) instead of a flat ambient term, which gives form without a second shadow;
* **skin** — wrapped diffuse (light bleeds past the terminator as it does through skin) and a
  weak, broad Blinn–Phong lobe with Schlick Fresnel; nails are shinier; the sleeve is matte.

Skinning: ``bone_rows[3i … 3i+2]`` are the top three rows of joint ``i``'s column-vector matrix
(:mod:`mirrorvr.render.skinning`), blended by four weights per vertex.
GLSL 3.30: runs on Mesa llvmpipe (OpenGL 4.5) and any desktop GPU.
"""

from __future__ import annotations

from panda3d.core import Shader

MAX_BONES = 32

_LIGHTING = """
uniform struct p3d_LightSourceParameters {
  vec4 color;
  vec4 position;
} p3d_LightSource[1];
uniform mat4 p3d_ViewMatrix;
const vec3 sky_rgb = vec3(0.50, 0.53, 0.58);  // pale daylight from above
const vec3 ground_rgb = vec3(0.30, 0.27, 0.24);  // warm bounce from table and floor

vec3 shade(vec3 base, vec3 pos, vec3 n, float sh, float wrap, float spec, float gloss) {
  vec3 N = normalize(n);
  vec3 V = normalize(-pos);
  if (dot(N, V) < 0.0) N = -N;  // two-sided surfaces (table cards) light like their front
  vec3 L = normalize(p3d_LightSource[0].position.xyz);
  vec3 up = normalize(mat3(p3d_ViewMatrix) * vec3(0.0, 0.0, 1.0));
  float ndl = dot(N, L);
  float diff = max((ndl + wrap) / (1.0 + wrap), 0.0);
  vec3 H = normalize(L + V);
  float fres = 0.04 + 0.96 * pow(1.0 - max(dot(N, V), 0.0), 5.0);
  float lobe = pow(max(dot(N, H), 0.0), gloss) * (gloss + 8.0) / 25.0;
  vec3 hemi = mix(ground_rgb, sky_rgb, dot(N, up) * 0.5 + 0.5);
  vec3 key = p3d_LightSource[0].color.rgb * sh;
  return base * (hemi + key * diff) + key * spec * lobe * max(ndl, 0.0) + fres * spec * hemi * 0.5;
}
"""

SKINNED_VERTEX = f"""#version 330
uniform mat4 p3d_ModelViewProjectionMatrix;
uniform mat4 p3d_ModelViewMatrix;
uniform mat3 p3d_NormalMatrix;
// three rows of each joint's affine matrix: a vec4 array indexed per vertex was measured twice
// as fast on llvmpipe as a mat4 array (which is slow even with constant indices)
uniform vec4 bone_rows[{MAX_BONES * 3}];
in vec4 p3d_Vertex;
in vec3 p3d_Normal;
// the limb's own columns at fixed locations, clear of panda3d's p3d_Vertex (0), p3d_Normal
// (2), p3d_Color (3) and p3d_MultiTexCoord0 (8): left to the linker, one landed on a location
// other draws set to a constant (a flat-coloured node), and in the headset's render loop the
// leg then read tint = 0 (black skin; trousers and nails right)
layout(location = 10) in vec3 tint;
layout(location = 11) in vec2 material;
layout(location = 12) in vec4 joints;
layout(location = 13) in vec4 weights;
out vec3 v_pos;
out vec3 v_normal;
out vec3 v_tint;
out vec2 v_material;
void main() {{
  ivec4 j = ivec4(joints) * 3;
  vec4 r0 = weights.x * bone_rows[j.x] + weights.y * bone_rows[j.y]
          + weights.z * bone_rows[j.z] + weights.w * bone_rows[j.w];
  vec4 r1 = weights.x * bone_rows[j.x + 1] + weights.y * bone_rows[j.y + 1]
          + weights.z * bone_rows[j.z + 1] + weights.w * bone_rows[j.w + 1];
  vec4 r2 = weights.x * bone_rows[j.x + 2] + weights.y * bone_rows[j.y + 2]
          + weights.z * bone_rows[j.z + 2] + weights.w * bone_rows[j.w + 2];
  vec4 p = vec4(dot(r0, p3d_Vertex), dot(r1, p3d_Vertex), dot(r2, p3d_Vertex), 1.0);
  vec3 n = vec3(dot(r0.xyz, p3d_Normal), dot(r1.xyz, p3d_Normal), dot(r2.xyz, p3d_Normal));
  vec4 view = p3d_ModelViewMatrix * p;
  gl_Position = p3d_ModelViewProjectionMatrix * p;
  v_pos = view.xyz;
  v_normal = p3d_NormalMatrix * n;
  v_tint = tint;
  v_material = material;
}}
"""

# skin, nail and sleeve from the vertex's tint and material masks, lit by ``shade``
_SKIN = """
uniform vec4 skin_rgba;
uniform vec3 sleeve_rgb;
vec3 skin_lit(vec3 tint, vec2 material, vec3 pos, vec3 n) {
  vec3 skin = skin_rgba.rgb * tint;
  vec3 nail = mix(skin_rgba.rgb, vec3(0.95, 0.82, 0.80), 0.55);
  float nm = material.x, sm = material.y;
  vec3 base = mix(mix(skin, nail, nm), sleeve_rgb, sm);
  float spec = mix(mix(0.22, 0.6, nm), 0.03, sm);
  float gloss = mix(mix(14.0, 60.0, nm), 4.0, sm);
  float wrap = mix(0.45, 0.1, sm);
  return shade(base, pos, n, 1.0, wrap, spec, gloss);
}
"""

SKIN_FRAGMENT = f"""#version 330
{_LIGHTING}
{_SKIN}
in vec3 v_pos;
in vec3 v_normal;
in vec3 v_tint;
in vec2 v_material;
out vec4 frag;
void main() {{
  frag = vec4(skin_lit(v_tint, v_material, v_pos, v_normal), skin_rgba.a);
}}
"""

# The software renderers' skin: the same lighting evaluated per vertex (Gouraud). On llvmpipe
# per-pixel skin lighting cost ≈ 3 ms of a 1280×720 frame (a quarter of it); on the limb's
# dense mesh (a vertex every few pixels at that size) the two differ by a few levels inside
# the hand, and the silhouettes lose the dark specks per-pixel lighting left where the
# interpolated normal turns away from the eye. Chosen by :mod:`mirrorvr.render.detail`.
SKINNED_VERTEX_LIT = (
    SKINNED_VERTEX.replace("#version 330", "#version 330\n" + _LIGHTING + _SKIN)
    .replace(
        "out vec3 v_pos;\nout vec3 v_normal;\nout vec3 v_tint;\nout vec2 v_material;",
        "out vec3 v_lit;",
    )
    .replace(
        "  v_pos = view.xyz;\n  v_normal = p3d_NormalMatrix * n;\n  v_tint = tint;\n  v_material = material;",
        "  v_lit = skin_lit(tint, material, view.xyz, p3d_NormalMatrix * n);",
    )
)

SKIN_FRAGMENT_LIT = """#version 330
uniform vec4 skin_rgba;
in vec3 v_lit;
out vec4 frag;
void main() {
  frag = vec4(v_lit, skin_rgba.a);
}
"""

STATIC_VERTEX = f"""#version 330
{_LIGHTING}
uniform mat4 p3d_ModelViewProjectionMatrix;
uniform mat4 p3d_ModelViewMatrix;
uniform mat3 p3d_NormalMatrix;
uniform vec4 p3d_ColorScale;
in vec4 p3d_Vertex;
in vec3 p3d_Normal;
in vec4 p3d_Color;
out vec4 v_color;
void main() {{
  vec4 view = p3d_ModelViewMatrix * p3d_Vertex;
  gl_Position = p3d_ModelViewProjectionMatrix * p3d_Vertex;
  vec4 c = p3d_Color * p3d_ColorScale;
  v_color = vec4(shade(c.rgb, view.xyz, p3d_NormalMatrix * p3d_Normal, 1.0, 0.15, 0.08, 10.0), c.a);
}}
"""

# the room's flat surfaces under one directional light: diffuse and ambient are constant over
# a face, and the weak, broad highlight differs from per-pixel lighting by ≤ 2 of 255 levels
# (measured on the default view), so the room is lit per vertex: per pixel it cost more than
# half of a 1280×720 frame on llvmpipe
STATIC_FRAGMENT = """#version 330
in vec4 v_color;
out vec4 frag;
void main() {
  frag = v_color;
}
"""

SHADOW_FRAGMENT = """#version 330
in float v_strength;
in vec2 v_table;
in float v_below;
out vec4 frag;
void main() {
  // only on the table top (its extent in metres, x across, y forward)
  if (abs(v_table.x) > 0.7 || v_table.y < 0.08 || v_table.y > 0.85 || v_below > 0.01) discard;
  frag = vec4(0.05, 0.06, 0.09, v_strength);
}
"""

_SHADOW_VERTEX_MAIN = """
  // flatten onto the table along the light: p − L (p.z − table) / L.z, just above the top
  float h = max(p.z - table_z, 0.0);
  // skin below the table top (the forearm dips towards the elbow behind the table's edge)
  // casts nothing on it
  v_below = p.z < table_z - 0.001 ? 1.0 : 0.0;
  vec3 q = p.xyz - light_dir * (h / max(light_dir.z, 0.2));
  q.z = table_z + 0.0008;
  v_strength = 0.42 * clamp(1.0 - h / 0.22, 0.0, 1.0);
  v_table = q.xy;
  gl_Position = p3d_ModelViewProjectionMatrix * vec4(q, 1.0);
}}
"""

SHADOW_VERTEX = SKINNED_VERTEX.split("  vec3 n = vec3(")[0].replace(
    "out vec3 v_pos;",
    "uniform vec3 light_dir;  // towards the light, world\nuniform float table_z;\n"
    "out float v_strength;\nout vec2 v_table;\nout float v_below;\nout vec3 v_pos;",
) + _SHADOW_VERTEX_MAIN.replace("}}", "}")

_cache: dict[str, Shader] = {}


def skinned_shader(per_vertex: bool = False) -> Shader:
    """The GPU-skinned skin shader, lit per pixel (or per vertex, for software renderers)."""
    key = "skin-vertex" if per_vertex else "skin"
    if key not in _cache:
        if per_vertex:
            _cache[key] = Shader.make(Shader.SL_GLSL, SKINNED_VERTEX_LIT, SKIN_FRAGMENT_LIT)
        else:
            _cache[key] = Shader.make(Shader.SL_GLSL, SKINNED_VERTEX, SKIN_FRAGMENT)
    return _cache[key]


def shadow_shader() -> Shader:
    """The limb's planar shadow on the table (same skinning, flattened, dark, translucent)."""
    if "shadow" not in _cache:
        _cache["shadow"] = Shader.make(Shader.SL_GLSL, SHADOW_VERTEX, SHADOW_FRAGMENT)
    return _cache["shadow"]


def static_shader() -> Shader:
    """The room's shader: the same lighting evaluated per vertex, vertex colours, no skinning."""
    if "static" not in _cache:
        _cache["static"] = Shader.make(Shader.SL_GLSL, STATIC_VERTEX, STATIC_FRAGMENT)
    return _cache["static"]
