"""Run inside Blender (``blender -b --factory-startup --python blender_world.py -- JOB``):
render an environment image as the World with Cycles on the CPU, one small view per
camera direction, and import a .glb to report its mesh and texture. JOB is a JSON file:

    {"environment": PATH, "size": S, "fov": DEGREES, "samples": N, "out": DIR,
     "views": [[[dx, dy, dz], [ux, uy, uz]], ...], "glb": PATH or null}

Each view is written as DIR/view_K.exr (linear light, as rendered); DIR/report.json gets
what the import found. Blender's world: Z up, right-handed.
"""
import json
import sys
from pathlib import Path

import bpy
from mathutils import Matrix, Vector


def camera_matrix(direction, up):
    """A camera (looking along its local -Z, local +Y up) at the origin looking along
    ``direction`` with ``up``."""
    forward = Vector(direction).normalized()
    right = forward.cross(Vector(up)).normalized()
    true_up = right.cross(forward)
    rotation = Matrix((right, true_up, -forward)).transposed()
    return rotation.to_4x4()


def set_world(path):
    world = bpy.data.worlds.new("panorama")
    world.use_nodes = True
    nodes, links = world.node_tree.nodes, world.node_tree.links
    background = nodes["Background"]
    texture = nodes.new("ShaderNodeTexEnvironment")
    texture.image = bpy.data.images.load(path)
    texture.interpolation = "Linear"
    texture.projection = "EQUIRECTANGULAR"
    links.new(texture.outputs["Color"], background.inputs["Color"])
    background.inputs["Strength"].default_value = 1.0
    # Nothing here is lit by the world: no importance map to build for every render.
    world.cycles.sampling_method = "NONE"
    bpy.context.scene.world = world
    return texture.image


def main(job):
    scene = bpy.context.scene
    for obj in list(scene.objects):
        bpy.data.objects.remove(obj, do_unlink=True)
    image = set_world(job["environment"])
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = job["samples"]
    scene.cycles.use_denoising = False
    scene.cycles.pixel_filter_type = "BOX"
    scene.cycles.filter_width = 1.0
    scene.render.resolution_x = scene.render.resolution_y = job["size"]
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    scene.view_settings.view_transform = "Standard"
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.data.lens_unit = "FOV"
    camera.data.sensor_fit = "HORIZONTAL"
    camera.data.angle = job["fov"] * 3.141592653589793 / 180
    scene.collection.objects.link(camera)
    scene.camera = camera
    out = Path(job["out"])
    for index, (direction, up) in enumerate(job["views"]):
        camera.matrix_world = camera_matrix(direction, up)
        scene.render.filepath = str(out / f"view_{index}.exr")
        bpy.ops.render.render(write_still=True)
    report = {"environment_size": list(image.size), "environment_float": bool(image.is_float)}
    if job.get("glb"):
        import numpy

        # Debian 12's Blender 3.4 glTF importer still says np.bool, which NumPy 1.24 (the
        # one Debian ships with it) removed: every mesh import fails without this alias.
        if "bool" not in vars(numpy):
            numpy.bool = bool
        bpy.ops.import_scene.gltf(filepath=job["glb"])
        meshes = [obj for obj in scene.objects if obj.type == "MESH"]
        report["meshes"] = [{"vertices": len(obj.data.vertices), "faces": len(obj.data.polygons),
                             "has_uv": len(obj.data.uv_layers) > 0} for obj in meshes]  # fmt: skip
        textures = [node.image for mat in bpy.data.materials if mat.use_nodes
                    for node in mat.node_tree.nodes if node.type == "TEX_IMAGE" and node.image]  # fmt: skip
        report["textures"] = [list(texture.size) for texture in textures]
        radii = [max(v.co.length for v in obj.data.vertices) for obj in meshes]
        report["radius"] = [min(radii, default=0), max(radii, default=0)]
    (out / "report.json").write_text(json.dumps(report))


main(json.loads(Path(sys.argv[sys.argv.index("--") + 1]).read_text()))
