"""OpenVINO IR files (model.xml + model.bin), run by OpenVINO's CPU plugin at f32."""
